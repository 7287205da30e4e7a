// Train the paper's FC4-BN net on two Fashion-MNIST classes and log every observable of the
// theory each epoch (docs/observables.md): OUT/observations.csv, margins.csv, summary.json.
//   train_binary [--epochs N] [--classes a,b] [--lr X] [--wd X] [--init X] [--out DIR]
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>

#include <rhonet/rhonet.hpp>
#include <rhonet/train.hpp>

using namespace rhonet;

int main(int argc, char** argv) {
  CLI::App app{"Train FC4-BN (785-512-512-512-1) with the square loss on two Fashion-MNIST classes"};
  std::size_t epochs = 5, a = 2, b = 4;
  double lr = 0.01, wd = 0.01, init = 1;
  std::string out = "out/train_binary";
  app.add_option("--epochs", epochs)->capture_default_str();
  app.add_option("--class-a", a, "class labelled +1")->capture_default_str();
  app.add_option("--class-b", b, "class labelled -1")->capture_default_str();
  app.add_option("--lr", lr)->capture_default_str();
  app.add_option("--wd", wd, "weight decay (PyTorch semantics)")->capture_default_str();
  app.add_option("--init", init, "Frobenius norm of each weight matrix at init")->capture_default_str();
  app.add_option("--out", out)->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    // Two classes, labels +-1, per-channel standardisation, unit norm, bias component.
    auto train_set = make_binary_task(load_fashion_mnist<float>(split::train), int(a), int(b), 1);
    auto test_set = make_binary_task(load_fashion_mnist<float>(split::test), int(a), int(b), 1);
    standardise_per_channel(train_set, test_set);
    for (auto* d : {&train_set, &test_set}) {
      scale_to_unit_norm(*d);
      append_bias(*d);
    }

    using net_t = arch::fc4_bn<785>;
    auto net = std::make_unique<net_t>();
    init_frobenius(net->parameters(), init, /*seed=*/1);

    train_options opt;
    opt.epochs = epochs;
    opt.sgd = {.lr = lr, .momentum = 0.9, .weight_decay = wd};
    opt.out_dir = out;
    const auto result = train(*net, train_set, test_set, opt);
    const auto& f = result.history.back();
    std::printf("%zu epochs in %.1f s (%.2f s/epoch incl. observations): train error %.4f, "
                "test error %.4f, rho %.4f, rho_eq %.4f\nCSV: %s/observations.csv\n",
                epochs, result.seconds, result.seconds / double(epochs), f.train_error,
                f.test_error, f.rho, f.rho_eq, out.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_binary: %s\n", e.what());
    return 1;
  }
}
