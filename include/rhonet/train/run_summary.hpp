// run_summary: summary.json in a run folder (docs/run-format.md), written atomically at the
// end of a run (finished or stopped): the full configuration (the trainer's options, the
// data, the model and what the compile-time analysis says of it, and the caller's `meta`),
// the outcome, the column list and the final observation.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include <rhonet/io/durable_file.hpp>
#include <rhonet/train/trainer.hpp>

namespace rhonet {

template <class T>
class run_summary final : public run_observer<T> {
 public:
  // `meta`: the caller's description of the run (e.g. the paper's setting), kept under "meta"
  // and, for compatibility, at the top level.
  run_summary(std::filesystem::path folder, nlohmann::json meta = nlohmann::json::object(),
              const dataset<T>* test = nullptr)
      : dir_(std::move(folder)), meta_(std::move(meta)), test_(test) {}

  void on_observe(trainer<T>&, const observation& o) override { final_ = o.to_json(); }

  void on_end(trainer<T>& t, const run_outcome& r) override {
    nlohmann::json s = meta_.is_object() ? meta_ : nlohmann::json::object();
    s["meta"] = meta_;
    nlohmann::json config = to_json(t.options());
    config["lambda"] = t.lambda();
    config["data"] = {{"train", t.train_set().source}, {"train_samples", t.train_set().size()},
                      {"classes", t.net().output_size() == 1 ? 2 : t.net().output_size()}};
    if (test_) {
      config["data"]["test"] = test_->source;
      config["data"]["test_samples"] = test_->size();
    }
    config["model"] = {{"signature", t.net().signature()},
                       {"outputs", t.net().output_size()},
                       {"degree_in_input", t.net().degree_in_input()},
                       {"factors_exactly", t.net().factors_exactly()},
                       {"scale_invariant_layers", t.net().scale_invariant_layers()},
                       {"factoring_layers", t.net().factoring_layers()}};
    s["config"] = config;
    s["signature"] = t.net().signature();
    s["scale_invariant_layers"] = t.net().scale_invariant_layers();
    s["factoring_layers"] = t.net().factoring_layers();
    s["finished"] = r.finished;
    s["diverged"] = r.diverged;
    s["interrupted"] = r.interrupted;
    s["diverged_at"] = r.diverged_at;
    s["error"] = r.error;
    s["seconds"] = t.seconds();
    s["resumed_from_epoch"] = t.resumed_from_epoch();
    s["changes"] = t.changes();  // overrides on resume: field, old, new, epoch, step
    s["epochs_done"] = t.epochs_done();
    s["last_checkpoint"] =
        t.last_checkpoint().empty() ? nlohmann::json(nullptr) : nlohmann::json(t.last_checkpoint().string());
    nlohmann::json columns = nlohmann::json::array();
    for (const auto& c : observation_columns()) columns.push_back(c.name);
    s["columns"] = columns;
    if (!final_.is_null()) s["final"] = final_;
    else if (!t.history().empty()) s["final"] = t.history().back().to_json();
    std::filesystem::create_directories(dir_);
    write_file_atomically(dir_ / "summary.json", s.dump(2) + "\n");
  }

 private:
  std::filesystem::path dir_;
  nlohmann::json meta_;
  const dataset<T>* test_;
  nlohmann::json final_ = nullptr;
};

}  // namespace rhonet
