// The shared parts of a sweep (sweep.hpp).
#include "sweep.hpp"

#include <cstdio>
#include <exception>

namespace fs = std::filesystem;

namespace sweep {

paper::data_request data_request_of(const paper_cli::options& o) {
  return {.spec = o.data,
          .classes = o.classes,
          .outputs = o.outputs,
          .limit_train = o.limit_train,
          .limit_test = o.limit_test};
}

settings_plan make_settings(const paper_cli::options& o) {
  settings_plan p;
  for (const auto& c : o.settings) {
    paper::setting s;
    s.name = c.name, s.arch = c.arch, s.width = c.width, s.bn = c.bn, s.wn = c.wn, s.wd = c.wd, s.lr = c.lr;
    s.momentum = c.momentum, s.epochs = c.epochs, s.batch = c.batch, s.inits = c.inits;
    s.flow_samples = c.flow_samples;
    s.init_labels = c.init_labels;
    p.settings.push_back(s);
  }
  // --override (with --resume): the runs trained from now on use the new values; a run that
  // resumes from a checkpoint records the change at its step (summary.json's "changes").
  for (const auto& v : o.overrides) {
    for (auto& s : p.settings) {
      if (v.key == "lr") s.lr = v.value;
      if (v.key == "momentum") s.momentum = v.value;
      if (v.key == "wd") s.wd = v.value;
      if (v.key == "epochs") s.epochs = std::size_t(v.value);
    }
    if (v.key != "epochs") p.override_fields.push_back(cli::override_field(v.key));
    p.lr_overridden = p.lr_overridden || v.key == "lr";
  }
  return p;
}

nlohmann::json to_json(const planned_run& r) {
  return {{"setting", r.setting}, {"init", r.init},     {"index", r.index},     {"seed", r.seed},
          {"folder", r.folder},   {"name", r.name},     {"title", r.title},     {"resume", r.resume},
          {"attempt", r.attempt}};
}

planned_run planned_run_from(const nlohmann::json& j) {
  planned_run r;
  r.setting = j.at("setting").get<std::size_t>();
  r.init = j.at("init").get<std::size_t>();
  r.index = j.at("index").get<std::size_t>();
  r.seed = j.at("seed").get<std::uint64_t>();
  r.folder = j.at("folder").get<std::string>();
  r.name = j.at("name").get<std::string>();
  r.title = j.at("title").get<std::string>();
  r.resume = j.at("resume").get<bool>();
  r.attempt = j.at("attempt").get<int>();
  return r;
}

outcome train_run(const context& c, const planned_run& t, const std::function<void(const nlohmann::json&)>& status,
                  const nlohmann::json& extra, std::string& error) {
  const paper::setting& s = c.plan.settings.at(t.setting);
  paper::setting f = s;
  int attempt = t.attempt;
  for (int a = 0; a < attempt; ++a) f.lr *= c.fallback > 0 ? c.fallback : 1.0;
  if (attempt > 0) f.fallback_from = s.lr;
  if (attempt > 0 && c.plan.lr_overridden) f.lr = s.lr;  // the override names the lr to use
  paper::run_options r = c.ro;
  r.resume = t.resume;
  r.seed = t.seed;
  r.folder = t.folder;
  r.title = t.title;
  auto start_attempt = [&] {
    if (!r.resume) fs::remove_all(c.ro.out / t.folder);  // what an earlier attempt left
    nlohmann::json change = extra.is_object() ? extra : nlohmann::json::object();
    change["status"] = "running";
    change["lr"] = f.lr;
    change["attempt"] = attempt;
    status(change);
  };
  try {
    start_attempt();
    bool ok = paper::run_one(f, t.init, c.data, r);
    for (; !ok && c.fallback > 0 && attempt < 2;) {
      f.lr *= c.fallback;
      f.fallback_from = s.lr;
      ++attempt;
      r.resume = false;
      std::printf("%s the paper's lr %g diverged; running again with lr %g (--fallback-lr-factor)\n",
                  t.title.c_str(), s.lr, f.lr);
      start_attempt();
      ok = paper::run_one(f, t.init, c.data, r);
    }
    status({{"status", ok ? "finished" : "diverged"}, {"lr", f.lr}});
    return ok ? outcome::finished : outcome::diverged;
  } catch (const paper::interrupted& e) {
    // The signal watcher marks the run interrupted; say where it stopped.
    status({{"checkpoint", e.checkpoint.lexically_relative(c.ro.out).string()}});
    return outcome::interrupted;
  } catch (const std::exception& e) {
    error = e.what();
    status({{"status", "failed"}, {"error", error}});
    return outcome::failed;
  }
}

void apply_change(nlohmann::json& manifest, std::size_t index, const nlohmann::json& change) {
  auto& run = manifest["runs"][index];
  if (change.value("status", "") == "running") run.erase("checkpoint");
  for (const auto& [key, value] : change.items()) run[key] = value;
  if (change.value("status", "") == "failed") manifest["status"] = "failed";
}

}  // namespace sweep
