// Data-parallel training measured (docs/distributed.md, "Scaling"): FC4-BN (785 -> 512 ->
// 512 -> 512 -> 1) or Conv4-BN (1x28x28), float, the paper's binary Fashion-MNIST shapes,
// trained by rhonet::trainer with trainer_options::group under `mpirun -np P`, one BLAS
// thread per rank, on synthetic unit-norm rows. Rank 0 prints one JSON line per epoch: the wall time, the time spent in the
// group's sums (communication, and waiting for the slowest rank), and then one line with the
// time of a bare sum of the gradients' size and of batch norm's statistics (the cost model's
// two points). Usage: mpirun -np P rhonet_bench_data_parallel [--net fc4_bn|conv4_bn]
// [--samples N] [--batch B] [--epochs E] [--repeats R]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <mpi.h>
#include <nlohmann/json.hpp>

#include <rhonet/core/threads.hpp>
#include <rhonet/init.hpp>
#include <rhonet/model.hpp>
#include <rhonet/mpi/launch.hpp>
#include <rhonet/mpi/process_group.hpp>
#include <rhonet/train.hpp>  // with rhonet::compiled: the trainer is compiled once, in the library

#include "data_parallel.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

// The communicator's sums, timed.
class timed_group final : public rhonet::process_group {
 public:
  explicit timed_group(const rhonet::process_group& g) : g_(g) {}
  int rank() const override { return g_.rank(); }
  int size() const override { return g_.size(); }
  void sum(std::span<float> v) const override { timed([&] { g_.sum(v); }); }
  void sum(std::span<double> v) const override { timed([&] { g_.sum(v); }); }
  mutable double seconds = 0;
  mutable long calls = 0;

 private:
  template <class F> void timed(F&& f) const {
    const auto t0 = clock_type::now();
    f();
    seconds += std::chrono::duration<double>(clock_type::now() - t0).count();
    ++calls;
  }
  const rhonet::process_group& g_;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// Median seconds of one sum of `count` floats over the group, after a barrier each time.
double bare_sum(const rhonet::process_group& g, MPI_Comm comm, std::size_t count, int repeats) {
  std::vector<float> v(count, 1.0f);
  std::vector<double> t;
  for (int r = 0; r < repeats; ++r) {
    MPI_Barrier(comm);
    const auto t0 = clock_type::now();
    g.sum(std::span<float>(v));
    t.push_back(std::chrono::duration<double>(clock_type::now() - t0).count());
  }
  return median(t);
}


using data_parallel_bench::options;

// The network behind the model interface (each network type is compiled in a unit of its own).
int run(const std::string& name, rhonet::model<float>& m, const options& o, const rhonet::mpi::environment& env) {
  const rhonet::mpi::communicator_group world(env.world());
  const timed_group group(world);
  const std::size_t features = m.input_size();
  rhonet::dataset<float> d;
  d.x = rhonet::matrix<float>::from_shape({o.samples, features});
  d.target = rhonet::matrix<float>::from_shape({o.samples, 1});
  rhonet::normal_rng rng(1);
  for (std::size_t i = 0; i < o.samples; ++i) {
    double norm = 0;
    for (std::size_t j = 0; j < features; ++j) norm += double(d.x(i, j) = float(rng())) * d.x(i, j);
    for (std::size_t j = 0; j < features; ++j) d.x(i, j) = float(d.x(i, j) / std::sqrt(norm));
    d.label.push_back(int(i % 2));
    d.target(i, 0) = i % 2 ? 1.f : -1.f;
  }
  d.classes = 2;
  d.source = "synthetic";

  rhonet::init_frobenius(m.parameters(), 1.0, 7);
  std::size_t params = 0;
  for (auto* p : m.parameters()) params += p->size();

  struct epoch_timer : rhonet::run_observer<float> {
    const timed_group* g = nullptr;
    clock_type::time_point start = clock_type::now();
    double sums_at_start = 0;
    std::vector<double> wall, in_sums;
    void on_epoch(rhonet::trainer<float>&, const rhonet::epoch_report&) override {
      const auto now = clock_type::now();
      wall.push_back(std::chrono::duration<double>(now - start).count());
      in_sums.push_back(g->seconds - sums_at_start);
      start = now;
      sums_at_start = g->seconds;
    }
  } timer;
  timer.g = &group;
  rhonet::trainer<float> t(m, d, {.epochs = o.epochs, .batch = o.batch, .seed = 3,
                                  .sgd = {.lr = 0.01, .momentum = 0.9, .weight_decay = 0.01},
                                  .observe_early_steps = false, .group = &group});
  t.add(timer);
  MPI_Barrier(env.world());
  timer.start = clock_type::now();
  t.run();

  const int ranks = group.size();
  if (group.rank() == 0)
    for (std::size_t e = 0; e < timer.wall.size(); ++e)
      std::printf("%s\n", nlohmann::json{{"net", name}, {"ranks", ranks}, {"epoch", e + 1}, {"seconds", timer.wall[e]},
                                         {"seconds_in_sums", timer.in_sums[e]},
                                         {"steps", t.steps_per_epoch()}}.dump().c_str());
  std::vector<double> wall(timer.wall.begin() + 1, timer.wall.end()),
      sums(timer.in_sums.begin() + 1, timer.in_sums.end());
  const double grad_sum = bare_sum(world, env.world(), params, o.repeats);
  const double stats_sum = bare_sum(world, env.world(), 513, o.repeats);
  if (group.rank() == 0)
    std::printf("%s\n", nlohmann::json{{"net", name}, {"ranks", ranks}, {"median_epoch_seconds", median(wall)},
                                       {"median_seconds_in_sums", median(sums)}, {"steps", t.steps_per_epoch()},
                                       {"gradient_floats", params}, {"bare_gradient_sum_seconds", grad_sum},
                                       {"bare_513_float_sum_seconds", stats_sum},
                                       {"samples", o.samples}, {"batch", o.batch}}.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  if (const auto exit_code = data_parallel_bench::parse(argc, argv, o)) return *exit_code;
  if (!rhonet::mpi::launched_by_mpirun()) {
    std::fprintf(stderr, "rhonet_bench_data_parallel: run me under mpirun (-np 1 for the baseline)\n");
    return 2;
  }
  rhonet::mpi::environment env(argc, argv);
  rhonet::set_threads(1);
  const auto model = o.net == "fc4_bn" ? data_parallel_bench::new_fc4_bn() : data_parallel_bench::new_conv4_bn();
  const int rc = run(o.net, *model, o, env);
  env.finalize();
  return rc;
}
