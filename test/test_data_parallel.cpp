// Data-parallel training under mpirun against one process (docs/distributed.md): P ranks,
// each with its slice of every global batch (uneven: 11 rows), synchronised batch norm, the
// loss scaled to the global batch and the gradients summed across ranks, follow the
// trajectory of one process training on the whole batches. 20 SGD steps (momentum, weight
// decay) in double of FC4-BN (one output, square loss summed), Conv4-BN (one output, square
// loss averaged) and an affine-BN net with three outputs (one-hot square loss averaged):
//  - every parameter and running statistic within a relative 1e-10 of the one-process run
//    (max |a - b| over a tensor <= 1e-10 max |b|);
//  - the ranks hold the same bits;
//  - rhonet::trainer with trainer_options::group does the same (3 epochs of FC4-BN on 70
//    samples in batches of 16, the last of 6), and its epoch losses are the global ones;
//  - a checkpoint rank 0 saves after 2 epochs on 2 ranks resumes on 3 to one process's
//    4 epochs (ctest data_parallel_resume: `save DIR`, then `resume DIR`);
//  - the evaluator shares its chunks among the ranks and gives every rank the outputs and
//    features one process computes, equal to the last bit; the trainer's observations
//    (paper_observables on 1100 and 700 samples, every column) agree with one process's within 1e-8 (relative;
//    absolute below 1);
//  - slice_of cuts a batch into contiguous slices that differ by at most one row.
// Every rank computes the one-process reference itself (same seeds), so each can judge.
// The learning rates keep the trajectories well conditioned: Conv4-BN at lr 0.02 (or 0.005
// with the summed loss) is chaotic over 20 steps, one process alone turning a 1e-15 relative
// change of its init into a 0.5 relative change of its weights; at 0.002 that change stays
// at 2e-14, and FC4-BN's at lr 0.02 at 1e-13, far below the bound.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <mpi.h>

#include <rhonet/architectures.hpp>
#include <rhonet/init.hpp>
#include <rhonet/loss.hpp>
#include <rhonet/mpi/launch.hpp>
#include <rhonet/mpi/process_group.hpp>
#include <rhonet/optim/sgd.hpp>
#include <rhonet/parallel/data_parallel.hpp>
#include <rhonet/observe/evaluate.hpp>
#include <rhonet/train/paper_observables.hpp>
#include <rhonet/train/trainer.hpp>

#include "support/mpi_checks.hpp"

namespace {

using mpi_checks::check;

using rhonet::matrix;
constexpr std::size_t batch = 11, steps = 20;

// The parameters' and running statistics' values, in the network's order, one vector each.
template <class Net>
std::vector<std::vector<double>> state_of(Net& net) {
  std::vector<std::vector<double>> s;
  for (auto* p : net.parameters()) s.emplace_back(p->value.begin(), p->value.end());
  for (auto* b : net.buffers()) s.emplace_back(b->value.begin(), b->value.end());
  return s;
}

// `count` steps on the global batches of x/y (rows [k*batch, (k+1)*batch) at step k); with a
// group, this rank's slice of each.
template <class Net, class Loss>
std::vector<std::vector<double>> train(const rhonet::process_group* group, const matrix<double>& x,
                                       const matrix<double>& y, const Loss& loss, double lr, std::size_t count) {
  auto net = std::make_unique<Net>();
  rhonet::init_frobenius(net->parameters(), 2.0, 7);
  rhonet::sgd<double> opt(net->parameters(), {.lr = lr, .momentum = 0.9, .weight_decay = 0.01});
  net->set_process_group(group);
  matrix<double> xb, yb, xs, ys, grad;
  std::vector<double> flat;
  for (std::size_t k = 0; k < count; ++k) {
    const rhonet::row_slice global{k * batch, (k + 1) * batch};
    rhonet::copy_rows(x, global, xb);
    rhonet::copy_rows(y, global, yb);
    const rhonet::row_slice mine = group ? rhonet::slice_of(batch, group->rank(), group->size())
                                         : rhonet::row_slice{0, batch};
    rhonet::copy_rows(xb, mine, xs);
    rhonet::copy_rows(yb, mine, ys);
    const matrix<double>& out = net->forward(xs, rhonet::mode::train);
    loss.loss_and_grad(out, ys, grad);
    if (loss.red == rhonet::reduction::mean) rhonet::scale_loss_gradient(grad, mine.rows(), batch);
    net->backward(grad);
    if (group) rhonet::sum_gradients(net->parameters(), *group, flat);
    opt.step();
  }
  return state_of(*net);
}

// max over tensors of max|a - b| / max|b|.
double relative_difference(const std::vector<std::vector<double>>& a, const std::vector<std::vector<double>>& b) {
  double worst = 0;
  for (std::size_t t = 0; t < b.size(); ++t) {
    double diff = 0, scale = 0;
    for (std::size_t i = 0; i < b[t].size(); ++i) {
      diff = std::max(diff, std::abs(a[t][i] - b[t][i]));
      scale = std::max(scale, std::abs(b[t][i]));
    }
    worst = std::max(worst, scale > 0 ? diff / scale : diff);
  }
  return worst;
}

// Whether every rank holds rank 0's bits.
bool same_on_every_rank(const std::vector<std::vector<double>>& s, MPI_Comm comm) {
  std::vector<double> mine;
  for (const auto& t : s) mine.insert(mine.end(), t.begin(), t.end());
  std::vector<double> root = mine;
  MPI_Bcast(root.data(), int(root.size()), MPI_DOUBLE, 0, comm);
  int differs = std::memcmp(root.data(), mine.data(), mine.size() * sizeof(double)) != 0;
  int any = 0;
  MPI_Allreduce(&differs, &any, 1, MPI_INT, MPI_MAX, comm);
  return any == 0;
}

template <class Net, class Loss>
void follows_one_process(const char* name, const rhonet::process_group& group, MPI_Comm comm,
                         std::size_t outputs, const Loss& loss, double lr) {
  const std::size_t d = Net::input_size;
  matrix<double> x = matrix<double>::from_shape({steps * batch, d});
  matrix<double> y = matrix<double>::from_shape({steps * batch, outputs});
  rhonet::normal_rng rng(11);
  for (double& v : x) v = rng();
  for (std::size_t n = 0; n < steps * batch; ++n) {
    const std::size_t c = (n * 7 + n / 3) % (outputs == 1 ? 2 : outputs);
    for (std::size_t o = 0; o < outputs; ++o)
      y(n, o) = outputs == 1 ? (c == 0 ? 1.0 : -1.0) : (o == c ? 1.0 : 0.0);
  }
  const auto reference = train<Net>(nullptr, x, y, loss, lr, steps);
  const auto parallel = train<Net>(&group, x, y, loss, lr, steps);
  const double rel = relative_difference(parallel, reference);
  // Training moved the weights, so agreeing is not agreeing on the init.
  const double moved = relative_difference(train<Net>(nullptr, x, y, loss, lr, 0), reference);
  check(moved > 1e-3, std::string(name) + ": 20 steps changed the weights by " + std::to_string(moved));
  check(rel <= 1e-10, std::string(name) + ": relative difference " + std::to_string(rel) + " > 1e-10");
  check(same_on_every_rank(parallel, comm), std::string(name) + ": the ranks' weights differ");
  if (group.rank() == 0) std::printf("  %s: max relative difference to one process %.3g\n", name, rel);
}

using fc4_bn = rhonet::arch::fc4_bn<17, 24, 1, double>;
using conv4_bn = rhonet::arch::conv4_bn<1, 28, 1, double>;
using affine_bn = rhonet::basic_network<double, rhonet::input<17>, rhonet::dense<24>,
                                        rhonet::batch_norm<rhonet::affine::scale_shift>, rhonet::relu,
                                        rhonet::dense<3>>;

// The trainer with and without the group: the same weights and the same epoch losses.
rhonet::dataset<double> clouds(std::uint64_t seed = 5, std::size_t n = 70) {
  rhonet::dataset<double> d;
  d.x = matrix<double>::from_shape({n, fc4_bn::input_size});
  d.target = matrix<double>::from_shape({n, 1});
  rhonet::normal_rng rng(seed);
  for (double& v : d.x) v = rng();
  for (std::size_t i = 0; i < n; ++i) {
    d.label.push_back(int(i % 3 == 0));
    d.target(i, 0) = i % 3 == 0 ? 1.0 : -1.0;
  }
  d.classes = 2;
  d.source = "clouds";
  return d;
}

rhonet::trainer_options trainer_setup(std::size_t epochs, const rhonet::process_group* g) {
  return {.epochs = epochs, .batch = 16, .seed = 9, .sgd = {.lr = 0.01, .momentum = 0.9, .weight_decay = 0.01},
          .group = g};
}

struct epoch_losses : rhonet::run_observer<double> {
  std::vector<double> loss;
  void on_epoch(rhonet::trainer<double>&, const rhonet::epoch_report& r) override { loss.push_back(r.loss); }
};

// `epochs` epochs with the trainer: from the init (init_seed), or from the checkpoint `from`; when
// `save_to` is given, rank 0 saves a checkpoint there at the end.
std::vector<std::vector<double>> trained(const rhonet::dataset<double>& d, std::size_t epochs,
                                         const rhonet::process_group* g, std::vector<double>* losses = nullptr,
                                         const std::string& from = {}, const std::string& save_to = {},
                                         std::uint64_t init_seed = 3) {
  fc4_bn net;
  rhonet::init_frobenius(net.parameters(), 2.0, init_seed);
  rhonet::model_of<fc4_bn> m(net);
  rhonet::trainer<double> t(m, d, trainer_setup(epochs, g));
  epoch_losses e;
  t.add(e);
  if (!from.empty()) t.resume(from);
  t.run();
  if (!save_to.empty() && (!g || g->rank() == 0)) t.save_checkpoint(save_to);
  if (losses) *losses = e.loss;
  return state_of(net);
}

void trainer_follows_one_process(const rhonet::process_group& group, MPI_Comm comm) {
  const rhonet::dataset<double> d = clouds();
  auto run = [&](const rhonet::process_group* g, std::vector<double>& losses) { return trained(d, 3, g, &losses); };
  std::vector<double> one_losses, losses;
  const auto one = run(nullptr, one_losses);
  const auto parallel = run(&group, losses);
  const double rel = relative_difference(parallel, one);
  check(rel <= 1e-10, "trainer: relative difference " + std::to_string(rel) + " > 1e-10");
  check(same_on_every_rank(parallel, comm), "trainer: the ranks' weights differ");
  double loss_rel = 0;
  for (std::size_t e = 0; e < one_losses.size(); ++e)
    loss_rel = std::max(loss_rel, std::abs(losses[e] - one_losses[e]) / std::abs(one_losses[e]));
  check(losses.size() == 3 && loss_rel <= 1e-10, "trainer: epoch losses differ by " + std::to_string(loss_rel));
  if (group.rank() == 0)
    std::printf("  trainer (fc4_bn): max relative difference to one process %.3g, epoch losses %.3g\n", rel, loss_rel);
  // A batch some process would get no row of is refused when the trainer is made.
  bool threw = false;
  try {
    fc4_bn net;
    rhonet::model_of<fc4_bn> m(net);
    rhonet::trainer<double> t(m, d, {.batch = 1, .group = &group});  // d outlives t
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  check(threw == (group.size() > 1), "trainer: batches of 1 row over several processes were accepted");
}

// The evaluator in chunks of 7 (10 chunks) shared among the ranks, against all on one.
void evaluation_in_shards(const rhonet::process_group& group) {
  const rhonet::dataset<double> d = clouds();
  fc4_bn net;
  rhonet::init_frobenius(net.parameters(), 2.0, 3);
  rhonet::model_of<fc4_bn> m(net);
  rhonet::evaluator<double> alone(7), shared(7);
  shared.set_process_group(&group);
  const auto& a = alone.run(m, d);
  const auto& b = shared.run(m, d);
  const bool same = std::equal(a.output.begin(), a.output.end(), b.output.begin()) &&
                    std::equal(a.features.begin(), a.features.end(), b.features.begin()) &&
                    a.loss == b.loss && a.error == b.error;
  check(same, "evaluator: the shared evaluation differs from one process's");
  if (group.rank() == 0) std::printf("  evaluator: shared among %d ranks, %s\n", group.size(), same ? "equal" : "different");
}

// The trainer's observations (paper_observables) with and without the group.
void observations_follow_one_process(const rhonet::process_group& group) {
  // Three evaluation chunks of at most 500 rows for the training set, two for the test set.
  const rhonet::dataset<double> d = clouds(5, 1100), test = clouds(6, 700);
  auto history = [&](const rhonet::process_group* g) {
    fc4_bn net;
    rhonet::init_frobenius(net.parameters(), 2.0, 3);
    rhonet::model_of<fc4_bn> m(net);
    rhonet::trainer<double> t(m, d, trainer_setup(2, g));
    rhonet::paper_observables<double> obs(test);
    t.add(obs);
    t.run();
    return t.history();
  };
  const auto one = history(nullptr), parallel = history(&group);
  double worst = 0;
  std::string where;
  check(one.size() == parallel.size() && one.size() >= 3, "observations: " + std::to_string(parallel.size()) +
                                                              " of the group's, " + std::to_string(one.size()) + " of one process's");
  for (std::size_t i = 0; i < std::min(one.size(), parallel.size()); ++i)
    for (const auto& c : rhonet::observation_columns()) {
      if (std::string(c.name) == "seconds") continue;
      const double a = c.get(parallel[i]), b = c.get(one[i]);
      if (std::isnan(a) && std::isnan(b)) continue;
      // Relative, and absolute below 1: nc2_cos of two classes is 0 by construction, rounding
      // noise of 1e-16 in both runs.
      const double rel = std::abs(a - b) / std::max(std::abs(b), 1.0);
      if (!(rel <= worst)) {
        worst = rel;
        where = std::string(c.name) + " of observation " + std::to_string(i) + " (" + std::to_string(a) + " against " + std::to_string(b) + ")";
      }
    }
  check(worst <= 1e-8, "observations: " + where + " differs by " + std::to_string(worst));
  if (group.rank() == 0)
    std::printf("  observations (%zu, every column): max relative difference to one process %.3g\n", one.size(), worst);
}

void slices() {
  for (std::size_t n : {3, 10, 11, 64, 129})
    for (int p = 1; p <= 3; ++p) {
      std::size_t at = 0, lo = n, hi = 0;
      for (int r = 0; r < p; ++r) {
        const auto s = rhonet::slice_of(n, r, p);
        check(s.begin == at, "slice_of: rank " + std::to_string(r) + " does not start where the last ended");
        at = s.end;
        lo = std::min(lo, s.rows());
        hi = std::max(hi, s.rows());
      }
      check(at == n && hi - lo <= 1, "slice_of(" + std::to_string(n) + ", ., " + std::to_string(p) + ")");
    }
  bool threw = false;
  try {
    rhonet::slice_of(2, 0, 3);
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  check(threw, "slice_of: 2 rows over 3 processes accepted");
}


}  // namespace

// A run of 4 epochs checkpointed by rank 0 after 2 (`save DIR`, on some number of ranks)
// and resumed from there (`resume DIR`, on another number) against one process's 4 epochs.
int checkpoint_across_rank_counts(const std::string& what, const std::string& dir,
                                  const rhonet::mpi::environment& env, const rhonet::process_group& group) {
  const rhonet::dataset<double> d = clouds();
  if (what == "save") {
    trained(d, 2, &group, nullptr, {}, dir);
    if (env.rank() == 0) std::printf("data_parallel: 2 epochs on %d ranks saved in %s\n", env.size(), dir.c_str());
    return 0;
  }
  const auto one = trained(d, 4, nullptr);
  // Another init: only the checkpoint's weights lead to the reference.
  const auto resumed = trained(d, 4, &group, nullptr, dir, {}, 99);
  const double rel = relative_difference(resumed, one);
  check(rel <= 1e-10, "resume: relative difference " + std::to_string(rel) + " > 1e-10");
  check(same_on_every_rank(resumed, env.world()), "resume: the ranks' weights differ");
  char passed[160];
  std::snprintf(passed, sizeof passed, "data_parallel: resumed on %d ranks like one process's run: relative difference %.3g",
                env.size(), rel);
  return mpi_checks::finish(env.world(), "data_parallel (resume)", passed);
}

int main(int argc, char** argv) {
  if (!rhonet::mpi::launched_by_mpirun()) {
    std::fprintf(stderr, "run me under mpirun (-np 2 or more)\n");
    return 1;
  }
  rhonet::mpi::environment env(argc, argv);
  const rhonet::mpi::communicator_group group(env.world());
  if (argc == 3) return checkpoint_across_rank_counts(argv[1], argv[2], env, group);
  slices();
  if (env.rank() == 0) std::printf("data_parallel on %d ranks, global batch %zu:\n", env.size(), batch);
  follows_one_process<fc4_bn>("fc4_bn", group, env.world(), 1, rhonet::square_loss{}, 0.02);
  follows_one_process<conv4_bn>("conv4_bn", group, env.world(), 1,
                                rhonet::square_loss{rhonet::reduction::mean}, 0.002);
  follows_one_process<affine_bn>("affine_bn", group, env.world(), 3,
                                 rhonet::square_loss{rhonet::reduction::mean}, 0.02);
  trainer_follows_one_process(group, env.world());
  evaluation_in_shards(group);
  observations_follow_one_process(group);
  return mpi_checks::finish(env.world(), "data_parallel", "data_parallel: every rank follows one process");
}
