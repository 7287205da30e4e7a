// Train the paper's FC4-BN net on two Fashion-MNIST classes and log every observable of the
// theory each epoch (docs/observables.md): OUT/observations.csv, margins.csv, summary.json.
//   train_binary [--epochs N] [--class-a a] [--class-b b] [--lr X] [--wd X] [--init X] [--out DIR]
//                [--checkpoint-dir DIR [--checkpoint-every N] [--keep-checkpoints N] [--resume]]
//                [--threads N]
// Exits 1 with a message naming the epoch, step and layer if training diverges (NaN, Inf or
// an exploding loss); the last checkpoint then holds the last good state.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>

#include <rhonet/rhonet.hpp>
#include <rhonet/train.hpp>

using namespace rhonet;

int main(int argc, char** argv) {
  ensure_blas_kernels(argc, argv);  // OpenBLAS on the CPU's best kernels (docs/performance.md)
  CLI::App app{"Train FC4-BN (785-512-512-512-1) with the square loss on two Fashion-MNIST classes"};
  std::size_t epochs = 5, a = 2, b = 4;
  double lr = 0.01, wd = 0.01, init = 1;
  std::string out = "out/train_binary", checkpoint_dir;
  std::size_t checkpoint_every = 1, keep_checkpoints = 2;
  bool resume = false;
  int threads = 0;
  app.add_option("--epochs", epochs)->capture_default_str();
  app.add_option("--class-a", a, "class labelled +1")->capture_default_str();
  app.add_option("--class-b", b, "class labelled -1")->capture_default_str();
  app.add_option("--lr", lr)->capture_default_str();
  app.add_option("--wd", wd, "weight decay (PyTorch semantics)")->capture_default_str();
  app.add_option("--init", init, "Frobenius norm of each weight matrix at init")->capture_default_str();
  app.add_option("--out", out)->capture_default_str();
  app.add_option("--checkpoint-dir", checkpoint_dir, "write checkpoints (ckpt-<epoch>) into this folder");
  app.add_option("--checkpoint-every", checkpoint_every, "epochs between checkpoints")->capture_default_str();
  app.add_option("--keep-checkpoints", keep_checkpoints, "newest checkpoints kept (0: all)")->capture_default_str();
  app.add_flag("--resume", resume, "continue from the newest checkpoint in --checkpoint-dir (if any)");
  app.add_option("--threads", threads, "threads (default: OpenBLAS's own choice)")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  try {
    if (threads > 0) set_threads(threads);
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
    opt.checkpoint_dir = checkpoint_dir;
    opt.checkpoint_every = checkpoint_every;
    opt.keep_checkpoints = keep_checkpoints;
    opt.resume = resume;
    const auto blas = blas_kernels_status();  // the kernel set the run's numbers come from
    opt.meta["blas"] = {{"openblas_corename", blas.running}, {"openblas_config", blas.config},
                        {"best_coretype", blas.best}, {"threads", rhonet::threads()}};
    const auto result = train(*net, train_set, test_set, opt);
    const auto& f = result.history.back();
    if (result.resumed_from_epoch > 0)
      std::printf("resumed from %s (epoch %zu)\n", result.last_checkpoint.c_str(), result.resumed_from_epoch);
    std::printf("%zu epochs in %.1f s (%.2f s/epoch incl. observations): train error %.4f, "
                "test error %.4f, rho %.4f, rho_eq %.4f\nCSV: %s/observations.csv\n",
                epochs, result.seconds, result.seconds / double(epochs), f.train_error,
                f.test_error, f.rho, f.rho_eq, out.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_binary: %s\n", e.what());
    return 1;
  }
}
