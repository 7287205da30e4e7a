// --override KEY=VALUE (repeatable, with --resume): a hyperparameter that changes when a run
// resumes. lr, momentum and wd (SGD's weight decay) change from the checkpoint on and the run
// records the change (summary.json's "changes"); epochs changes the run's length. What defines
// a run (seed, batch, data, network, init) cannot be overridden (docs/reliability.md).
// Light on purpose: the options structs include it; parsing is in options.hpp.
#pragma once

#include <string>
#include <vector>

namespace cli {

struct override_value {
  std::string key;   // lr, momentum, wd or epochs
  double value = 0;  // validated for the key (epochs: a whole number)
  bool operator==(const override_value&) const = default;
};

// The trainer's name of an overridable field (rhonet::trainer_options::overrides): wd is
// weight_decay; epochs is not one of them (a run may always be continued to more epochs).
inline std::string override_field(const std::string& key) { return key == "wd" ? "weight_decay" : key; }

}  // namespace cli
