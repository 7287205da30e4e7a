// paper: reproduces the experiments of Poggio & Liao on real data (two classes of
// Fashion-MNIST by default, CIFAR-10's binary batches when given), writes per-run CSV and
// JSON (docs/run-format.md), then figures and REPORT.md (report.py, run without a shell).
// The output folder is locked while the program runs, refused if it holds something else,
// and its manifest.json says at every moment which runs finished (docs/reliability.md).
// Exit codes: 0 done; 1 a run diverged or an error; 2 a bad command line; 128 + signal when
// interrupted by SIGINT or SIGTERM.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <exception>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>
#include <rhonet/core/ensure_blas_kernels.hpp>
#include <rhonet/core/threads.hpp>
#include <rhonet/io/durable_file.hpp>

#include "common/interrupt.hpp"
#include "common/run_folder.hpp"
#include "common/spawn.hpp"
#include "experiment.hpp"
#include "paper_cli.hpp"


namespace fs = std::filesystem;
using paper::setting;

namespace {

// A folder holds a run of paper if its manifest says so (or, written before the manifest
// named its program, has paper's command and settings).
bool is_paper_run(const std::vector<std::string>&, const nlohmann::json& m) {
  if (!m.is_object()) return false;
  if (m.contains("program")) return m["program"] == "paper";
  return m.contains("command") && m.contains("settings");
}

// manifest.json, shared by the training loop and the signal watcher; every change is written
// at once (atomically), so the file always says which runs finished.
struct live_manifest {
  std::mutex mutex;
  nlohmann::json j;
  fs::path file;
  bool written = false;

  template <class F>
  void update(F&& change) {
    std::lock_guard<std::mutex> hold(mutex);
    change(j);
    rhonet::write_file_atomically(file, j.dump(2) + "\n");
    written = true;
  }
};

std::string now_utc() {
  const auto now = std::time(nullptr);
  char when[64];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return when;
}

// What defines the results of a sweep: a resumed sweep must have the same.
nlohmann::json sweep_config(const paper_cli::options& o, const paper::data_info& d) {
  nlohmann::json settings = nlohmann::json::array();
  for (const auto& s : o.settings)
    settings.push_back({{"name", s.name}, {"arch", s.arch}, {"width", s.width}, {"bn", s.bn}, {"wn", s.wn},
                        {"wd", s.wd}, {"lr", s.lr}, {"momentum", s.momentum}, {"epochs", s.epochs},
                        {"batch", s.batch}, {"inits", s.init_labels}, {"flow_samples", s.flow_samples}});
  return {{"data", o.data},
          {"classes", o.classes},
          {"outputs", o.outputs},
          {"train_samples", d.train},
          {"test_samples", d.test},
          {"seed", o.seed},
          {"fallback_lr_factor", o.fallback},
          {"settings", settings}};
}

// The first field in which the earlier sweep's configuration differs, as a message; empty
// if they agree.
std::string config_mismatch(const nlohmann::json& old_manifest, const nlohmann::json& now) {
  if (!old_manifest.contains("config") || !old_manifest["config"].is_object())
    return "it records no configuration (written by an older paper)";
  const auto& old = old_manifest["config"];
  for (const auto& [key, value] : now.items()) {
    if (!old.contains(key) || old[key] != value) {
      auto cut = [](std::string s) { return s.size() > 160 ? s.substr(0, 157) + "..." : s; };
      return key + " was " + cut(old.contains(key) ? old[key].dump() : "not recorded") + ", this command gives " +
             cut(value.dump());
    }
  }
  return {};
}

// "a init 1 and b init 5", for the interruption message.
std::string in_progress(const std::set<std::string>& running) {
  if (running.empty()) return "the start of the sweep";
  std::string text;
  std::size_t k = 0;
  for (const auto& r : running) text += (k++ == 0 ? "" : k == running.size() ? " and " : ", ") + r;
  return text;
}

// Whether a run folder holds a complete checkpoint (ckpt/ckpt-<n>/manifest.json) to resume
// from; the trainer checks it in full (and falls back past a damaged one).
bool has_checkpoint(const fs::path& run) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(paper::checkpoint_dir(run), ec)) {
    const std::string n = e.path().filename().string();
    if (n.size() > 5 && n.rfind("ckpt-", 0) == 0 && n.find_first_not_of("0123456789", 5) == std::string::npos &&
        fs::is_regular_file(e.path() / "manifest.json", ec))
      return true;
  }
  return false;
}

int run_sweep(const paper_cli::options& o, int argc, char** argv) {
  const fs::path out_dir = o.out;
  const auto mode = o.overwrite ? run_folder::mode::overwrite
                                : o.resume ? run_folder::mode::resume : run_folder::mode::fresh;
  // Lock and check the folder before the (slow) data loading, so a refusal comes at once.
  run_folder::claim claim = run_folder::claim_folder(out_dir, "paper", "--out", mode, is_paper_run);

  live_manifest manifest;
  manifest.file = out_dir / "manifest.json";
  std::atomic<pid_t> report_child{0};
  std::set<std::string> running;  // the runs in progress (under manifest.mutex)
  // A signal sets `stop`: every run ends after its step in progress with a checkpoint of that
  // moment; the watcher waits for the workers (`active`) before it records the interruption.
  std::atomic<bool> stop{false};
  std::mutex active_mutex;
  std::condition_variable active_cv;
  std::size_t active = 0;
  interrupt::watcher watcher([&](int signo) {
    stop = true;
    {
      std::unique_lock<std::mutex> hold(active_mutex);
      active_cv.wait(hold, [&] { return active == 0; });
    }
    // Never unlocked: the process ends after this, and nothing may write the manifest after it.
    manifest.mutex.lock();
    if (const pid_t child = report_child.load()) ::kill(child, SIGTERM);
    const char* sig = interrupt::signal_name(signo);
    if (!manifest.written) {
      std::fprintf(stderr, "\npaper: interrupted by %s before training started; nothing was written to %s\n", sig,
                   out_dir.c_str());
      return;
    }
    auto& j = manifest.j;
    const bool training = j["status"] == "running";
    if (training) {
      j["status"] = "interrupted";
      for (auto& r : j["runs"])
        if (r["status"] == "running") r["status"] = "interrupted";
    } else {
      j["report"] = "interrupted";
    }
    j["interrupted"] = {{"signal", sig}, {"at", now_utc()}};
    try {
      rhonet::write_file_atomically(manifest.file, j.dump(2) + "\n");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "\npaper: could not record the interruption: %s\n", e.what());
    }
    if (training)
      std::fprintf(stderr,
                   "\npaper: interrupted by %s during %s; the runs that finished are kept in %s (manifest.json "
                   "lists them), and each interrupted run has a checkpoint of the step it stopped at. To continue, "
                   "run the same command with --resume.\n",
                   sig, in_progress(running).c_str(), out_dir.c_str());
    else
      std::fprintf(stderr,
                   "\npaper: interrupted by %s during the report step; the runs are complete. To make the "
                   "report: /usr/bin/python3 %s %s\n",
                   sig, RHONET_PAPER_REPORT_SCRIPT, spawn::shown({out_dir.string()}).c_str());
  });

  std::string shown;
  for (int c : o.classes) shown += (shown.empty() ? "" : o.classes.size() == 2 ? " vs " : ", ") + std::to_string(c);
  std::printf("loading %s, classes %s ...\n", o.data.c_str(), shown.c_str());
  const auto prepared = paper::load_data({.spec = o.data,
                                          .classes = o.classes,
                                          .outputs = o.outputs,
                                          .limit_train = o.limit_train,
                                          .limit_test = o.limit_test});
  const paper::data_info d = paper::describe(*prepared);
  std::printf("%zu training and %zu test samples, %zu x %zu x %zu\n", d.train, d.test, d.channels, d.side, d.side);

  std::vector<setting> settings;
  for (const auto& p : o.settings) {
    setting s;
    s.name = p.name, s.arch = p.arch, s.width = p.width, s.bn = p.bn, s.wn = p.wn, s.wd = p.wd, s.lr = p.lr;
    s.momentum = p.momentum, s.epochs = p.epochs, s.batch = p.batch, s.inits = p.inits;
    s.flow_samples = p.flow_samples;
    s.init_labels = p.init_labels;
    settings.push_back(s);
  }
  const nlohmann::json config = sweep_config(o, d);

  // Runs kept from the earlier sweep (--resume): those it records as done, with a summary;
  // `earlier` holds every run entry of that sweep (an interrupted run continues its attempt).
  std::map<std::string, nlohmann::json> kept, earlier;
  if (claim.had_run && o.resume) {
    if (const std::string diff = config_mismatch(claim.manifest, config); !diff.empty())
      throw std::runtime_error("--resume: the run in '" + out_dir.string() + "' has other options: " + diff +
                               "; give the options of that run (with --override KEY=VALUE to change lr, momentum, "
                               "wd or epochs), or --overwrite to start over");
    for (const auto& r : claim.manifest.value("runs", nlohmann::json::array())) {
      if (!r.is_object()) continue;
      earlier[r.value("folder", "")] = r;
      if ((r.value("status", "") == "finished" || r.value("status", "") == "diverged") &&
          fs::exists(out_dir / r.value("folder", "") / "summary.json"))
        kept[r.value("folder", "")] = r;
    }
  }
  // --override (with --resume): the runs trained from now on use the new values; a run that
  // resumes from a checkpoint records the change at its step (summary.json's "changes").
  nlohmann::json overrides = claim.had_run && o.resume ? claim.manifest.value("overrides", nlohmann::json::array())
                                                       : nlohmann::json::array();
  std::vector<std::string> override_fields;
  bool lr_overridden = false;
  for (const auto& v : o.overrides) {
    for (auto& s : settings) {
      if (v.key == "lr") s.lr = v.value;
      if (v.key == "momentum") s.momentum = v.value;
      if (v.key == "wd") s.wd = v.value;
      if (v.key == "epochs") s.epochs = std::size_t(v.value);
    }
    if (v.key != "epochs") override_fields.push_back(cli::override_field(v.key));
    lr_overridden = lr_overridden || v.key == "lr";
    overrides.push_back({{"key", v.key}, {"value", v.value}, {"at", now_utc()}});
    std::printf("--override: %s = %g for the runs trained from now on\n", v.key.c_str(), v.value);
  }

  std::string cmd;
  for (int i = 0; i < argc; ++i) cmd += (i ? " " : "") + spawn::shown({argv[i]});
  manifest.update([&](nlohmann::json& j) {
    if (claim.had_run && o.overwrite) {
      std::printf("--overwrite: replacing the earlier run in %s\n", out_dir.c_str());
      run_folder::clear(out_dir);
    }
    j["program"] = "paper";
    j["command"] = cmd;
    j["started"] = claim.had_run && o.resume ? claim.manifest.value("started", now_utc()) : now_utc();
    if (claim.had_run && o.resume) j["resumed"] = now_utc();
    j["status"] = "running";
    j["preset"] = o.preset;
    j["data"] = {{"name", d.name}, {"classes", o.classes}, {"train", d.train},
                 {"test", d.test}, {"outputs", o.outputs},
                 {"preprocessing", "per-channel standardisation, unit L2 norm, bias component for FC"}};
    j["machine"] = {{"hardware_threads", std::thread::hardware_concurrency()}};
    j["settings"] = config["settings"];
    j["config"] = config;
    if (!overrides.empty()) j["overrides"] = overrides;
    j["runs"] = nlohmann::json::array();
    for (const auto& s : settings)
      for (const auto& label : s.init_labels) {
        const std::string folder = s.name + "/" + paper::init_dir(label);
        if (auto it = kept.find(folder); it != kept.end())
          j["runs"].push_back(it->second);
        else
          j["runs"].push_back({{"setting", s.name}, {"init", label}, {"folder", folder}, {"status", "pending"}});
      }
  });

  // The runs to train, in sweep order; `index` is the run's place in the manifest.
  struct planned_run {
    std::size_t setting, init, index;
    std::string folder, name;
    bool resume;       // continues from its checkpoint
    int attempt;       // 0: the setting's lr; k: lr x fallback^k (--fallback-lr-factor)
  };
  std::vector<planned_run> todo;
  std::size_t run_index = 0;
  for (std::size_t k = 0; k < settings.size(); ++k)
    for (std::size_t i = 0; i < settings[k].inits.size(); ++i, ++run_index) {
      const auto& s = settings[k];
      const std::string folder = s.name + "/" + paper::init_dir(s.init_labels[i]);
      if (kept.count(folder))
        std::printf("[%s, init %s] kept from the earlier run (%s)\n", s.name.c_str(), s.init_labels[i].c_str(),
                    kept[folder].value("status", "").c_str());
      else {
        const bool resume = o.resume && has_checkpoint(out_dir / folder);
        const int attempt = resume && earlier.count(folder) ? earlier[folder].value("attempt", 0) : 0;
        todo.push_back({k, i, run_index, folder, s.name + " init " + s.init_labels[i], resume, attempt});
        if (resume)
          std::printf("[%s, init %s] continues from its checkpoint\n", s.name.c_str(), s.init_labels[i].c_str());
      }
    }

  // Runs in parallel, one per core by default, each with one BLAS thread: at the paper's
  // sizes that trains more runs per second than one run on every core (docs/reproducing.md).
  const std::size_t jobs = o.jobs ? o.jobs : std::max(1u, std::thread::hardware_concurrency());
  const std::size_t workers = std::max<std::size_t>(1, std::min(jobs, todo.size()));
  if (o.threads > 0)
    rhonet::set_threads(int(o.threads));
  else if (workers > 1)
    rhonet::set_threads(1);
  manifest.update([&](nlohmann::json& j) {
    j["machine"]["jobs"] = workers;
    j["machine"]["blas_threads"] = rhonet::threads();
  });
  if (workers > 1) std::printf("%zu runs, %zu at a time\n", todo.size(), workers);
  // Per-epoch progress lines only when one run goes at a time (they do not name their run).
  paper::run_options ro{out_dir, o.seed, !o.quiet && workers == 1};
  ro.overrides = override_fields;
  ro.stop = &stop;

  const auto t0 = std::chrono::steady_clock::now();
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr first_error;
  auto train_runs = [&] {
    {
      std::lock_guard<std::mutex> hold(active_mutex);
      ++active;
    }
    struct leave {
      std::mutex& m;
      std::condition_variable& cv;
      std::size_t& n;
      ~leave() {
        std::lock_guard<std::mutex> hold(m);
        --n;
        cv.notify_all();
      }
    } on_exit{active_mutex, active_cv, active};
    for (std::size_t k; !failed && !stop && (k = next++) < todo.size();) {
      const planned_run& t = todo[k];
      const setting& s = settings[t.setting];
      setting f = s;
      int attempt = t.attempt;
      for (int a = 0; a < attempt; ++a) f.lr *= o.fallback > 0 ? o.fallback : 1.0;
      if (attempt > 0) f.fallback_from = s.lr;
      if (attempt > 0 && lr_overridden) f.lr = s.lr;  // the override names the lr to use
      paper::run_options r = ro;
      r.resume = t.resume;
      auto start_attempt = [&] {
        manifest.update([&](nlohmann::json& j) {
          if (!r.resume) fs::remove_all(out_dir / t.folder);  // what an earlier attempt left
          j["runs"][t.index]["status"] = "running";
          j["runs"][t.index]["lr"] = f.lr;
          j["runs"][t.index]["attempt"] = attempt;
          j["runs"][t.index].erase("checkpoint");
          running.insert(t.name);
        });
      };
      start_attempt();
      bool ok = false;
      try {
        ok = paper::run_one(f, t.init, *prepared, r);
        for (; !ok && o.fallback > 0 && attempt < 2;) {
          f.lr *= o.fallback;
          f.fallback_from = s.lr;
          ++attempt;
          r.resume = false;
          std::printf("[%s, init %s] the paper's lr %g diverged; running again with lr %g "
                      "(--fallback-lr-factor)\n", s.name.c_str(), s.init_labels[t.init].c_str(), s.lr, f.lr);
          start_attempt();
          ok = paper::run_one(f, t.init, *prepared, r);
        }
      } catch (const paper::interrupted& e) {
        // The watcher marks the run interrupted and ends the process; say where it stopped.
        manifest.update([&](nlohmann::json& j) {
          j["runs"][t.index]["checkpoint"] = e.checkpoint.lexically_relative(out_dir).string();
        });
        return;
      } catch (const std::exception& e) {
        manifest.update([&](nlohmann::json& j) {
          j["runs"][t.index]["status"] = "failed";
          j["runs"][t.index]["error"] = e.what();
          j["status"] = "failed";
          running.erase(t.name);
          if (!first_error) first_error = std::current_exception();
        });
        failed = true;  // no new run starts; those under way finish
        return;
      }
      manifest.update([&](nlohmann::json& j) {
        j["runs"][t.index]["status"] = ok ? "finished" : "diverged";
        j["runs"][t.index]["lr"] = f.lr;
        running.erase(t.name);
      });
    }
  };
  std::vector<std::thread> pool;
  for (std::size_t w = 1; w < workers; ++w) pool.emplace_back(train_runs);
  train_runs();
  for (auto& th : pool) th.join();
  if (stop) interrupt::wait_for_exit();  // the watcher records the interruption and ends the process
  if (first_error) std::rethrow_exception(first_error);

  int diverged = 0;
  manifest.update([&](nlohmann::json& j) {
    for (const auto& r : j["runs"]) diverged += r["status"] == "diverged";
    j["status"] = "finished";
    j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    j["diverged_runs"] = diverged;
  });

  if (!o.no_report) {
    const std::string python = fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
    const std::vector<std::string> call{python, RHONET_PAPER_REPORT_SCRIPT, fs::absolute(out_dir).string()};
    const spawn::outcome r = spawn::run(call, &report_child);
    const bool written = r.ok() && fs::exists(out_dir / "REPORT.md");
    manifest.update([&](nlohmann::json& j) { j["report"] = written ? "written" : "failed"; });
    if (!written)
      throw std::runtime_error("the report step failed: " + spawn::shown(call) + " " +
                               (r.ok() ? "wrote no REPORT.md" : r.describe()) + "; the runs are complete in " +
                               out_dir.string());
  }
  std::printf("\nresults: %s\n", fs::absolute(out_dir).c_str());
  if (!o.no_report) {
    std::printf("report:  %s\n", fs::absolute(out_dir / "REPORT.md").c_str());
    std::printf("figures: %s\n", fs::absolute(out_dir / "figures").c_str());
  }
  if (diverged > 0) {
    std::fprintf(stderr, "paper: %d run(s) diverged (see their summary.json and the report)\n", diverged);
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  rhonet::ensure_blas_kernels(argc, argv);  // OpenBLAS on the CPU's best kernels (docs/performance.md)
  paper_cli::options o;
  try {
    o = paper_cli::parse(argc, argv);
  } catch (const cli::usage_error& e) {
    return cli::usage_exit(e, "paper");
  }
  try {
    return run_sweep(o, argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "paper: %s\n", e.what());
    return 1;
  }
}
