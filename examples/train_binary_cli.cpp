// The command line of `train_binary` on CLI11 (train_binary_cli.hpp): the only translation
// unit of the program that includes CLI11, which is slow to compile.
#include "train_binary_cli.hpp"

#include "common/options.hpp"

namespace train_binary_cli {

namespace {

// Everything the options write into. cli::parse_reusing resets it before each parse, so a
// value an option writes belongs here, not in parser.
struct bound_values {
  options o_;
  std::vector<std::string> override_items_;
};

class parser : bound_values {
 public:
  parser() {
    app_.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::Throw);
    app_.add_option("--epochs", o_.epochs)->check(cli::whole(1, 1000000))->capture_default_str();
    app_.add_option("--class-a", o_.class_a, "class labelled +1 (0 to 9)")->check(cli::whole(0, 9))
        ->capture_default_str();
    app_.add_option("--class-b", o_.class_b, "class labelled -1 (0 to 9)")->check(cli::whole(0, 9))
        ->capture_default_str();
    app_.add_option("--lr", o_.lr, "learning rate, > 0")->check(cli::real(cli::positive()))->capture_default_str();
    app_.add_option("--wd", o_.wd, "weight decay >= 0 (PyTorch semantics)")->check(cli::real(cli::non_negative()))
        ->capture_default_str();
    app_.add_option("--init", o_.init, "Frobenius norm of each weight matrix at init, > 0")
        ->check(cli::real(cli::positive()))
        ->capture_default_str();
    app_.add_option("--threads", o_.threads, "threads (default: OpenBLAS's own choice)")->check(cli::whole(1, 1024));
    app_.add_option("--limit-train", o_.limit_train, "use only the first N training samples (default: all)")
        ->check(cli::whole(1, 1000000000));
    app_.add_option("--limit-test", o_.limit_test, "use only the first N test samples (default: all)")
        ->check(cli::whole(1, 1000000000));
    app_.add_option("--out", o_.out, "output folder (must be new or empty; see --overwrite, --resume)")
        ->check(cli::non_empty_path())
        ->capture_default_str();
    auto* dir = app_.add_option("--checkpoint-dir", o_.checkpoint_dir,
                                "write checkpoints (ckpt-<epoch>) into this folder")
                    ->check(cli::non_empty_path());
    app_.add_option("--checkpoint-every", o_.checkpoint_every, "epochs between checkpoints (the last always)")
        ->check(cli::whole(1, 1000000))
        ->needs(dir)
        ->capture_default_str();
    app_.add_option("--keep-checkpoints", o_.keep_checkpoints, "newest checkpoints kept (0: all)")
        ->check(cli::whole(0, 1000000))
        ->needs(dir)
        ->capture_default_str();
    auto* resume = app_.add_flag("--resume", o_.resume,
                                 "continue from the newest checkpoint in --checkpoint-dir (if any), appending to "
                                 "the run in --out")
                       ->needs(dir);
    app_.add_flag("--overwrite", o_.overwrite,
                  "replace the earlier run in --out and the checkpoints in --checkpoint-dir")
        ->excludes(resume);
    app_.add_option("--override", override_items_,
                    "with --resume, KEY=VALUE (repeatable): change lr, momentum, wd or epochs from the checkpoint "
                    "on; the run records the change (summary.json, \"changes\")")
        ->check(cli::override_item())
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
        ->needs(resume);
  }

  const CLI::App& app() const { return app_; }
  void reset() { static_cast<bound_values&>(*this) = bound_values{}; }

  // Throws CLI::ParseError (CLI::CallForHelp for --help).
  options parse(int argc, const char* const* argv) {
    app_.parse(argc, argv);
    if (o_.class_a == o_.class_b)
      throw CLI::ValidationError("--class-b", "expected a class other than --class-a " + std::to_string(o_.class_a) +
                                                  ", got " + cli::quote(std::to_string(o_.class_b)));
    o_.overrides = cli::overrides(override_items_);
    return o_;
  }

 private:
  CLI::App app_{"Train FC4-BN (785-512-512-512-1) with the square loss on two Fashion-MNIST classes"};
};

}  // namespace

options parse(int argc, const char* const* argv) { return cli::parse_with<parser>(argc, argv); }
options parse_reusing(int argc, const char* const* argv) { return cli::parse_reusing<parser>(argc, argv); }

}  // namespace train_binary_cli
