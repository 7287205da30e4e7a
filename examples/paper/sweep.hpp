// The parts of a sweep that every way of running it shares (one process with --jobs threads,
// or the ranks of mpirun, sweep_mpi.hpp): the settings a command line makes, the plan of one
// run, training it with its fallback attempts, and the manifest entry its status changes
// make. A run's status changes are JSON objects of manifest fields, so a rank can send them
// to rank 0 as they are. Light: no tensor library, no MPI.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiment.hpp"
#include "paper_cli.hpp"

namespace sweep {

// The settings of the command line, with its --override values applied.
struct settings_plan {
  std::vector<paper::setting> settings;
  std::vector<std::string> override_fields;  // the trainer's names of the overridden fields
  bool lr_overridden = false;
};
settings_plan make_settings(const paper_cli::options& o);

// The data the command line asks for (the same request on every rank).
paper::data_request data_request_of(const paper_cli::options& o);

// One run to train: `index` is its place in the manifest's runs.
struct planned_run {
  std::size_t setting = 0, init = 0, index = 0;
  std::uint64_t seed = 1;
  std::string folder, name, title;  // paper::run_folder(), run_name() and run_title()
  bool resume = false;  // continues from its checkpoint
  int attempt = 0;      // 0: the setting's lr; k: lr x fallback^k (--fallback-lr-factor)
};
nlohmann::json to_json(const planned_run& r);
planned_run planned_run_from(const nlohmann::json& j);

// What training a run needs, the same on every rank.
struct context {
  const settings_plan& plan;
  const paper::data& data;
  paper::run_options ro;
  double fallback = 0;  // --fallback-lr-factor; 0: none
};

enum class outcome { finished, diverged, failed, interrupted };

// Trains a run (and its fallback attempts), telling `status` every change of its manifest
// entry: {"status": "running", "lr", "attempt"} at each attempt, then {"status": "finished"
// or "diverged", "lr"}, or {"status": "failed", "error"}, or {"checkpoint"} when stopped.
// `extra` fields go with "running" (e.g. the rank and host). Never throws: an error is the
// run's failure, with its message in `error`.
outcome train_run(const context& c, const planned_run& t, const std::function<void(const nlohmann::json&)>& status,
                  const nlohmann::json& extra, std::string& error);

// Applies a status change to run `index` of the manifest (a failed run makes the sweep's
// status "failed").
void apply_change(nlohmann::json& manifest, std::size_t index, const nlohmann::json& change);

}  // namespace sweep
