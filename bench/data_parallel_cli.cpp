#include <CLI/CLI.hpp>

#include "data_parallel.hpp"

std::optional<int> data_parallel_bench::parse(int argc, char** argv, options& o) {
  CLI::App app{"rhonet_bench_data_parallel: FC4-BN or Conv4-BN epochs under mpirun, with the time in the sums"};
  app.add_option("--net", o.net, "the network")->check(CLI::IsMember({"fc4_bn", "conv4_bn"}));
  app.add_option("--samples", o.samples, "training samples (synthetic)")->check(CLI::PositiveNumber);
  app.add_option("--batch", o.batch, "global batch")->check(CLI::PositiveNumber);
  app.add_option("--epochs", o.epochs, "epochs (the first is a warm-up, left out of the median)")
      ->check(CLI::Range(2, 1000));
  app.add_option("--repeats", o.repeats, "repetitions of the bare sums")->check(CLI::Range(1, 100000));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return std::nullopt;
}
