// The command line of `train_multiclass` on CLI11 (train_multiclass_cli.hpp).
#include "train_multiclass_cli.hpp"

#include "common/options.hpp"

namespace train_multiclass_cli {

options parse(int argc, const char* const* argv) {
  CLI::App app{"Train a small conv net on the 10 Fashion-MNIST classes"};
  options o;
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::Throw);
  app.add_option("--loss", o.loss, "ce (softmax cross-entropy) or square (one-hot targets)")
      ->check(CLI::IsMember({"ce", "square"}))
      ->capture_default_str();
  app.add_option("--epochs", o.epochs)->check(cli::whole(1, 1000000))->capture_default_str();
  app.add_option("--batch", o.batch)->check(cli::whole(2, 100000))->capture_default_str();
  app.add_option("--lr", o.lr, "initial learning rate (cosine schedule to 0)")
      ->check(cli::real(cli::positive()))
      ->capture_default_str();
  app.add_flag("--augment", o.augment, "random crops (padding 2) and horizontal flips");
  app.add_option("--limit-train", o.limit_train, "use only the first N training images (0: all)")
      ->check(cli::whole(0, 1000000000));
  app.add_option("--val", o.val_size, "images held out of the training set for validation")
      ->check(cli::whole(1, 1000000000))
      ->capture_default_str();
  app.add_option("--limit-test", o.limit_test, "use only the first N test images (0: all)")
      ->check(cli::whole(0, 1000000000));
  app.add_option("--seed", o.seed)->capture_default_str();
  app.add_option("--out", o.out, "the model is saved to OUT/model")
      ->check(cli::non_empty_path())
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    throw cli::as_usage_error(app, e);
  }
  return o;
}

}  // namespace train_multiclass_cli
