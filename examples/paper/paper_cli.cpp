// The command line of `paper` on CLI11 (paper_cli.hpp): the only translation unit of the
// program that includes CLI11, which is slow to compile.
#include "paper_cli.hpp"

#include "common/options.hpp"

namespace paper_cli {

namespace {

// Checks: one of `allowed`.
CLI::Validator one_of(std::vector<std::string> allowed) {
  std::string names;
  for (const auto& a : allowed) names += (names.empty() ? "" : ", ") + a;
  return CLI::Validator(
      [allowed, names](std::string& s) -> std::string {
        if (std::find(allowed.begin(), allowed.end(), s) == allowed.end())
          return "expected one of " + names + ", got " + cli::quote(s);
        return {};
      },
      "");
}

// Checks: two or more different class ids in [0, 9], comma-separated, or all.
CLI::Validator class_list() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        if (s == "all") return {};
        const std::string expected =
            "expected two or more different class ids from 0 to 9, comma-separated (or all), got " + cli::quote(s);
        std::string err;
        const auto items = cli::split_items(s, err, "class ids");
        if (!err.empty()) return err;
        if (items.size() < 2) return expected;
        std::vector<std::uint64_t> seen;
        for (const auto& i : items) {
          const auto v = cli::parse_whole(i);
          if (!v || *v > 9) return expected;
          if (std::find(seen.begin(), seen.end(), *v) != seen.end())
            return "class " + std::to_string(*v) + " is given twice in " + cli::quote(s);
          seen.push_back(*v);
        }
        return {};
      },
      "");
}

// Checks: fashion-mnist or cifar10:FOLDER.
CLI::Validator data_spec() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        if (s == "fashion-mnist" || (s.rfind("cifar10:", 0) == 0 && s.size() > 8)) return {};
        return "expected fashion-mnist or cifar10:FOLDER, got " + cli::quote(s);
      },
      "");
}

// The quick preset's training and test subsets.
constexpr std::uint64_t quick_samples = 2000;
// The gradient-flow settings' training subset (the full batch of every step).
constexpr std::uint64_t flow_samples = 512;

// Everything the options write into. cli::parse_reusing resets it before each parse, so a
// value an option writes (or parse() changes) belongs here, not in parser.
struct bound_values {
  options o_;
  std::string experiment_, arch_, bn_, inits_, width_, classes_ = "2,4";
  std::vector<std::string> override_items_;
  double lr_ = 0.1, momentum_ = 0.9, wd_ = 0;
  std::uint64_t epochs_ = 1, batch_ = 128, outputs_ = 1;
};

class parser : bound_values {
 public:
  parser() {
    app_.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::Throw);
    std::vector<std::string> names;
    std::string listing;
    for (const auto& n : named_settings()) {
      names.push_back(n.name);
      listing += std::string("\n    ") + n.name + ": " + n.purpose;
    }
    names.push_back("custom");
    app_.add_option("--experiment", experiment_,
                    "settings, comma-separated (default: the preset's), or custom (with --arch, --bn and "
                    "--wd):" + listing)
        ->check(cli::member_list(names));
    app_.add_option("--preset", o_.preset,
                    "quick: FC settings of width 128 on 2,000 training and 2,000 test samples, 16,000 steps with WD "
                    "(minutes); paper: every setting, width 512, all the data, the paper's 1000 epochs (hours)")
        ->check(one_of({"quick", "paper"}))
        ->capture_default_str();
    app_.add_option("--width", width_,
                    "hidden width of FC4: 512 (the paper's) or 128 (default: 128 with the quick preset, 512 "
                    "with the paper preset)")
        ->check(one_of({"128", "512"}));
    app_.add_option("--arch", arch_, "custom setting only: fc4 or conv4")->check(one_of({"fc4", "conv4"}));
    app_.add_option("--bn", bn_, "custom setting only: on or off")->check(one_of({"on", "off"}));
    app_.add_option("--init", inits_,
                    "Frobenius norms of every weight matrix at init, comma-separated, > 0, for every setting "
                    "(default: 0.1,1,5; the quick preset runs its single-purpose settings at one init)")
        ->check(cli::real_list(cli::positive()));
    app_.add_option("--lr", lr_, "learning rate, > 0 (default: the setting's; the list above)")
        ->check(cli::real(cli::positive()));
    app_.add_option("--fallback-lr-factor", o_.fallback,
                    "if a run diverges, run it again with lr times this factor in (0, 1), up to twice; "
                    "off when not given")
        ->check(cli::real({0, true, 1, true}));
    app_.add_option("--momentum", momentum_, "SGD momentum in [0, 1) (default 0.9)")
        ->check(cli::real({0, false, 1, true}));
    app_.add_option("--wd", wd_, "weight decay >= 0, PyTorch's semantics (default: the setting's)")
        ->check(cli::real(cli::non_negative()));
    app_.add_option("--epochs", epochs_, "epochs (default: the preset's)")->check(cli::whole(1, max_epochs));
    app_.add_option("--batch", batch_, "batch size (default 128)")->check(cli::whole(1, max_batch));
    app_.add_option("--seed", o_.seed, "seed of init and shuffling")
        ->check(cli::whole(0, std::numeric_limits<std::uint64_t>::max()))
        ->capture_default_str();
    app_.add_option("--seeds", o_.seeds,
                    "train every setting and init with this many seeds (--seed, --seed + 1, ...); the report "
                    "gives each prediction's verdict per seed and the mean and spread over seeds")
        ->check(cli::whole(1, max_seeds))
        ->capture_default_str();
    app_.add_option("--data", o_.data, "fashion-mnist, or cifar10:FOLDER (the binary batches)")
        ->check(data_spec())
        ->capture_default_str();
    app_.add_option("--classes", classes_,
                    "class ids 0 to 9, comma-separated, or all: two for the paper's binary task (a,b: a -> +1, "
                    "b -> -1), more for a one-hot task with one output per class in the order given")
        ->check(class_list())
        ->capture_default_str();
    app_.add_option("--outputs", outputs_, "two classes: 1 (labels +-1, the default) or 2 (one-hot); more "
                    "classes: one output per class (the default, the only choice)")
        ->check(cli::whole(1, 10));
    app_.add_option("--limit-train", o_.limit_train,
                    "use only the first N training samples (default: 2000 with the quick preset, else all)")
        ->check(cli::whole(1, max_samples));
    app_.add_option("--limit-test", o_.limit_test,
                    "use only the first N test samples (default: 2000 with the quick preset, else all)")
        ->check(cli::whole(1, max_samples));
    app_.add_option("--jobs", o_.jobs, "runs trained at once, one thread each (default: the machine's cores)")
        ->check(cli::whole(1, 1024));
    app_.add_option("--threads", o_.threads,
                    "threads per run, for the matrix products and rhonet's loops (default: 1 when runs go in parallel, else OpenBLAS's count at load)")
        ->check(cli::whole(1, 1024));
    app_.add_option("--out", o_.out, "output folder (must be new or empty; see --overwrite, --resume)")
        ->check(cli::non_empty_path())
        ->capture_default_str();
    auto* overwrite = app_.add_flag("--overwrite", o_.overwrite,
                                    "replace the earlier run of paper in --out (everything in it is deleted)");
    auto* resume = app_.add_flag("--resume", o_.resume,
                                 "continue the run in --out: runs that finished are kept, an interrupted run "
                                 "continues from its checkpoint, the others run; the options must be those of "
                                 "that run")
                       ->excludes(overwrite);
    app_.add_option("--override", override_items_,
                    "with --resume, KEY=VALUE (repeatable): change lr, momentum, wd or epochs for the runs "
                    "trained from now on; a resumed run records the change (summary.json, \"changes\")")
        ->check(cli::override_item())
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
        ->needs(resume);
    app_.add_flag("--no-report", o_.no_report, "skip figures and REPORT.md");
    app_.add_flag("--quiet", o_.quiet, "no per-epoch progress lines");
  }

  const CLI::App& app() const { return app_; }
  void reset() { static_cast<bound_values&>(*this) = bound_values{}; }

  // Throws CLI::ParseError (CLI::CallForHelp for --help).
  options parse(int argc, const char* const* argv) {
    app_.parse(argc, argv);
    options o = o_;
    const bool custom_given = app_.count("--arch") || app_.count("--bn");
    std::string err;
    if (experiment_.empty())
      for (const auto& n : named_settings())
        if (o.preset == "paper" ? n.in_paper : n.in_quick)
          experiment_ += (experiment_.empty() ? "" : ",") + std::string(n.name);
    const auto names = cli::split_items(experiment_, err, "settings");  // validated already
    const bool has_custom = std::find(names.begin(), names.end(), "custom") != names.end();
    if (custom_given && !has_custom)
      throw CLI::ValidationError(app_.count("--arch") ? "--arch" : "--bn",
                                 "only the custom setting uses it, and --experiment " + cli::quote(experiment_) +
                                     " has none; add custom to --experiment or leave it out");
    if (has_custom && (arch_.empty() || bn_.empty() || !app_.count("--wd")))
      throw CLI::ValidationError("--experiment", "the custom setting needs --arch, --bn and --wd");
    if (app_.count("--preset") && app_.count("--epochs"))
      throw CLI::ValidationError("--epochs", "replaces the epochs of --preset " + o.preset +
                                                 ", which then does nothing; give one of them");

    const bool paper_preset = o.preset == "paper";
    if (!paper_preset) {  // the quick preset's subsets, unless given
      if (!app_.count("--limit-train")) o.limit_train = quick_samples;
      if (!app_.count("--limit-test")) o.limit_test = quick_samples;
    }
    for (const auto& name : names) o.settings.push_back(plan_setting(name, paper_preset));
    set_task(o);
    if (o.seeds - 1 > std::numeric_limits<std::uint64_t>::max() - o.seed)
      throw CLI::ValidationError("--seeds", std::to_string(o.seeds) + " seeds from --seed " + std::to_string(o.seed) +
                                                " run past the largest seed, " +
                                                std::to_string(std::numeric_limits<std::uint64_t>::max()));
    o.overrides = cli::overrides(override_items_);
    return o;
  }

 private:
  // One setting of --experiment as the options and the preset make it.
  planned_setting plan_setting(const std::string& name, bool paper_preset) const {
    std::string err;
    planned_setting s;
    std::string inits = "0.1,1,5";
    if (name == "custom") {
      s.arch = arch_, s.bn = bn_ == "on", s.wd = wd_, s.lr = arch_ == "fc4" ? 0.1 : 0.01;
      s.epochs = paper_preset ? 1000 : arch_ == "conv4" ? 4 : wd_ > 0 ? 1000 : 300;
      s.name = arch_ + "-" + (s.bn ? "bn" : "nobn") + "-" + (wd_ > 0 ? "wd" : "nowd");
    } else {
      const auto& n = *std::find_if(named_settings().begin(), named_settings().end(),
                                    [&](const named_setting& t) { return t.name == name; });
      s.name = n.name, s.arch = n.arch, s.bn = n.bn, s.wn = n.wn, s.wd = n.wd;
      s.lr = paper_preset ? n.lr : n.quick_lr;
      s.momentum = n.momentum, s.epochs = paper_preset ? n.paper_epochs : n.quick_epochs;
      s.flow_samples = n.flow_samples;
      if (!paper_preset || n.flow_samples) inits = n.quick_inits;  // a flow setting: one init
      if (app_.count("--wd")) s.wd = wd_;
      if (s.flow_samples && (app_.count("--momentum") || app_.count("--batch")))
        throw CLI::ValidationError(app_.count("--momentum") ? "--momentum" : "--batch",
                                   "the setting " + s.name + " follows gradient flow: full batch, momentum 0; "
                                   "leave the flag out or name the settings with --experiment, without the flow ones");
    }
    s.width = app_.count("--width") ? std::stoull(width_) : paper_preset ? 512 : 128;
    if (app_.count("--init")) inits = inits_;
    s.init_labels = cli::split_items(inits, err, "numbers");
    s.inits = cli::reals(inits);
    if (app_.count("--lr")) s.lr = lr_;
    if (app_.count("--momentum")) s.momentum = momentum_;
    if (app_.count("--epochs")) s.epochs = epochs_;
    if (app_.count("--batch")) s.batch = batch_;
    if (s.flow_samples) s.batch = s.flow_samples;
    return s;
  }

  // The task: the class ids, and the output count they and --outputs give, which must be one
  // the network types were compiled for.
  void set_task(options& o) {
    std::string err;
    if (classes_ == "all") classes_ = "0,1,2,3,4,5,6,7,8,9";
    o.classes.clear();
    for (const auto& item : cli::split_items(classes_, err, "class ids"))  // validated already
      o.classes.push_back(int(*cli::parse_whole(item)));
    const std::uint64_t C = o.classes.size();
    if (C == 2) {
      o.outputs = app_.count("--outputs") ? outputs_ : 1;
      if (o.outputs > 2)
        throw CLI::ValidationError("--outputs", "two classes take 1 (labels +-1) or 2 (one-hot) outputs, got " +
                                                    std::to_string(o.outputs));
    } else {
      o.outputs = C;
      if (app_.count("--outputs") && outputs_ != C)
        throw CLI::ValidationError("--outputs", std::to_string(C) + " classes take one output per class (" +
                                                    std::to_string(C) + "), got " + std::to_string(outputs_));
    }
    const auto& built = compiled_outputs();
    if (std::find(built.begin(), built.end(), o.outputs) == built.end()) {
      std::string list, cmake;
      for (auto n : built) {
        list += (list.empty() ? "" : ", ") + std::to_string(n);
        cmake += std::to_string(n) + ";";
      }
      throw CLI::ValidationError(
          "--classes", std::to_string(C) + " classes need networks with " + std::to_string(o.outputs) +
                           " outputs; this build has networks with " + list + " outputs (the network types are "
                           "compiled ahead): configure with -DRHONET_PAPER_OUTPUTS=\"" + cmake +
                           std::to_string(o.outputs) + "\" and build again");
    }
  }

  CLI::App app_{"Reproduce Poggio & Liao's experiments: train the paper's networks with the square loss and "
                "report rho, margins and neural collapse against the predictions."};
};

}  // namespace

// The quick preset: FC4 of width 128 on 2,000 training samples (16 steps an epoch), so that a
// step costs about 1/7 of the paper's width-512 net. 1000 epochs (16,000 steps) bring the WD
// runs past the plateau of rho; 300 epochs bring the BN runs without WD to interpolation. The
// BN nets start at lr 0.01: the paper's lr 0.1 diverges for them (docs/reproducing.md), and
// at width 128 late, after thousands of steps, instead of in the first few. The settings
// without BN keep the paper's lr; fc-wd starts at init 5 (from smaller inits WD wins before
// the data does and every weight decays to 0), and fc-wn-wd, which collapses that way from
// every init we measured, is left to the paper preset. plain needs 24,000 steps at lr 0.01
// to interpolate from inits 1 and 5; from 0.1 (rho = 1e-4 at the start) it does not leave
// its vanishing signal within minutes at any lr we tried.
const std::vector<named_setting>& named_settings() {
  static const std::vector<named_setting> table = {
      {"fc-bn-wd", "BN and WD: equilibrium of rho, init independence, margins, neural collapse", "fc4", true,
       false, 0.01, 0.1, 0.9, 0.01, 1000, 1000, "0.1,1,5", true, true},
      {"fc-bn-nowd", "BN without WD, plain SGD (momentum 0): the norms of BN-preceded layers never decrease",
       "fc4", true, false, 0, 0.1, 0, 0.01, 300, 1000, "0.1,1,5", true, true},
      {"fc-bn-nowd-momentum", "BN without WD, momentum 0.9: how far momentum departs from that", "fc4", true,
       false, 0, 0.1, 0.9, 0.01, 300, 1000, "1", true, true},
      {"fc-wd", "WD without BN: equal layer norms", "fc4", false, false, 0.01, 0.1, 0.9, 0.01, 1000, 1000, "5",
       true, true},
      {"fc-wn-wd", "weight-normalised layers with WD on the scales: the theory's own normalisation", "fc4",
       false, true, 0.01, 0.1, 0.9, 0.01, 1000, 1000, "5", false, true},
      {"plain", "neither BN nor WD: init dependence and interpolation", "fc4", false, false, 0, 0.1, 0.9, 0.01,
       1500, 1000, "1,5", true, true},
      {"conv-bn-nowd", "the paper's convolutional net, BN without WD", "conv4", true, false, 0, 0.01, 0.9, 0.01,
       4, 1000, "0.1,1,5", false, true},
      {"flow-bn-wd", "gradient flow (full-batch GD, momentum 0, small lr), BN and WD: the norm equations, "
       "<W_k, grad_k L> = 0 behind BN, rho -> rho_eq", "fc4", true, false, 0.01, 0.01, 0, 0.01, 3000, 20000, "1",
       true, true, flow_samples},
      {"flow-wn-wd", "gradient flow, weight-normalised layers with WD on the scales: d rho_k/dt against the "
       "theory's formula, equal layer norms", "fc4", false, true, 0.01, 0.01, 0, 0.01, 3000, 20000, "30", true, true,
       flow_samples},
  };
  return table;
}

options parse(int argc, const char* const* argv) { return cli::parse_with<parser>(argc, argv); }
options parse_reusing(int argc, const char* const* argv) { return cli::parse_reusing<parser>(argc, argv); }

#ifndef RHONET_PAPER_OUTPUTS  // set by examples/CMakeLists.txt; these are its default
#define RHONET_PAPER_OUTPUTS 1, 2, 10
#endif
const std::vector<std::uint64_t>& compiled_outputs() {
  static const std::vector<std::uint64_t> list{RHONET_PAPER_OUTPUTS};
  return list;
}

}  // namespace paper_cli
