// Crash safety: a child process is killed with SIGKILL at random moments while it writes
// checkpoints (in a loop, and through the trainer); the newest complete checkpoint always
// loads and holds exactly what was saved, leftovers of the interrupted write never count,
// and a killed training run resumes to the weights and CSV of an unbroken run, bit for bit.
#define BOOST_TEST_MODULE rhonet_crash
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <rhonet/rhonet.hpp>
#include <rhonet/train.hpp>

#include "support/reliability_support.hpp"

using namespace rhonet;
using namespace rhonet_test;
namespace fs = std::filesystem;

extern "C" void openblas_set_num_threads(int);

namespace {

struct one_thread {
  one_thread() { openblas_set_num_threads(1); }
};
BOOST_TEST_GLOBAL_FIXTURE(one_thread);

using net_t = network<input<17>, dense<64>, batch_norm<>, relu, dense<32>, relu, dense<1>>;

// The values saved as checkpoint n: a deterministic function of n.
void fill_pattern(net_t& net, sgd<float>& opt, std::uint64_t n) {
  std::mt19937_64 rng(n);
  std::normal_distribution<float> g(0.f, 1.f);
  for (auto* p : net.parameters())
    for (auto& v : p->value) v = g(rng);
  for (auto* b : net.buffers())
    for (auto& v : b->value) v = std::abs(g(rng));
  for (auto& m : opt.buffers())
    for (auto& v : m) v = g(rng);
  opt.set_step_count(n);
}

std::vector<unsigned char> state_bytes(net_t& net, sgd<float>& opt) {
  std::vector<unsigned char> b = bytes_of(net);
  for (const auto& m : opt.buffers()) {
    const auto* c = reinterpret_cast<const unsigned char*>(m.data());
    b.insert(b.end(), c, c + m.size() * sizeof(float));
  }
  return b;
}

// Forks a child that runs f() and then _exit(0)s; f must not return normally before the kill
// for the test to mean anything, so it is expected to loop.
template <class F>
pid_t spawn(F&& f) {
  const pid_t pid = ::fork();
  BOOST_TEST_REQUIRE(pid >= 0);
  if (pid == 0) {
    try {
      f();
    } catch (...) {
      ::_exit(3);
    }
    ::_exit(0);
  }
  return pid;
}

int kill_and_reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

std::size_t leftovers(const fs::path& root) {
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(root)) {
    const std::string name = e.path().filename().string();
    if (name.find(".tmp-") != std::string::npos || name.find(".old-") != std::string::npos) ++n;
  }
  return n;
}

}  // namespace

BOOST_AUTO_TEST_CASE(sigkill_during_checkpoint_writes) {
  scratch dir("kill_save");
  const fs::path root = dir.path / "ckpt";
  std::mt19937_64 rng(20261123);
  std::uniform_int_distribution<int> delay_ms(5, 60);
  std::size_t rounds_with_leftover = 0, loaded = 0;
  std::uint64_t next = 1;
  for (int round = 0; round < 12; ++round) {
    BOOST_TEST_CONTEXT("round " << round) {
      const std::uint64_t start = next;
      const pid_t pid = spawn([&] {
        net_t net;
        sgd<float> opt(net.parameters(), {.lr = 0.1, .momentum = 0.9});
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        for (std::uint64_t n = start; std::chrono::steady_clock::now() < deadline; ++n) {
          fill_pattern(net, opt, n);
          save_checkpoint(checkpoint_path(root, n), net, &opt, {{"n", n}});
          // Now and then, replace an existing checkpoint too (the rename-over path).
          if (n % 3 == 0) save_checkpoint(checkpoint_path(root, n), net, &opt, {{"n", n}});
        }
      });
      // Kill at a random moment after this round's first complete checkpoint: on a loaded
      // machine the child may take longer than the whole delay just to start.
      const auto wait_until = std::chrono::steady_clock::now() + std::chrono::seconds(15);
      auto saved_this_round = [&] {
        for (const auto& [k, path] : list_checkpoints(root))
          if (k >= start) return true;
        return false;
      };
      while (!saved_this_round() && std::chrono::steady_clock::now() < wait_until)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
      const int status = kill_and_reap(pid);
      BOOST_TEST_REQUIRE(WIFSIGNALED(status));  // still writing when killed
      BOOST_TEST(WTERMSIG(status) == SIGKILL);
      rounds_with_leftover += leftovers(root) > 0;

      const auto latest = latest_checkpoint(root);
      if (!latest) continue;  // killed before the first save completed
      BOOST_TEST(latest->filename().string().find('.') == std::string::npos);
      net_t net;
      sgd<float> opt(net.parameters(), {.lr = 0.1, .momentum = 0.9});
      const nlohmann::json extra = load_checkpoint(*latest, net, &opt);
      const std::uint64_t n = extra["n"].get<std::uint64_t>();
      BOOST_TEST(latest->filename().string() == "ckpt-" + std::to_string(n));
      net_t expected;
      sgd<float> expected_opt(expected.parameters(), {.lr = 0.1, .momentum = 0.9});
      fill_pattern(expected, expected_opt, n);
      BOOST_TEST((state_bytes(net, opt) == state_bytes(expected, expected_opt)));
      BOOST_TEST(opt.step_count() == n);
      ++loaded;
      // Every complete checkpoint loads, not only the newest.
      for (const auto& [k, path] : list_checkpoints(root)) BOOST_CHECK_NO_THROW(load_checkpoint(path, net, &opt));
      next = n + 1;
      // The writer is dead: its leftovers are tidied up, complete checkpoints are kept.
      const std::size_t complete = list_checkpoints(root).size();
      recover_checkpoints(root);
      BOOST_TEST(leftovers(root) == 0u);
      BOOST_TEST(list_checkpoints(root).size() >= complete);
    }
  }
  BOOST_TEST_MESSAGE(loaded << " rounds loaded a checkpoint, " << rounds_with_leftover
                            << " were killed mid-write (a leftover folder)");
  BOOST_TEST(loaded == 12u);  // every round was killed after a checkpoint of its own
}

// The trainer killed mid-run (at a random moment after its first checkpoint) and resumed in
// this process ends exactly where an unbroken run does.
BOOST_AUTO_TEST_CASE(sigkill_during_training_then_resume_is_bit_identical) {
  scratch dir("kill_train");
  const auto train_set = clouds(400, 3), test_set = clouds(50, 4);
  train_options opt;
  opt.epochs = 30;
  opt.batch = 32;
  opt.seed = 9;
  opt.sgd = {.lr = 0.05, .momentum = 0.9, .weight_decay = 1e-3};
  opt.progress = false;

  auto straight = std::make_unique<net_t>();
  init_frobenius(straight->parameters(), 1.0, 5);
  opt.out_dir = dir.path / "straight";
  const auto t0 = std::chrono::steady_clock::now();
  train(*straight, train_set, test_set, opt);
  const auto run_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);

  opt.out_dir = dir.path / "killed";
  opt.checkpoint_dir = dir.path / "killed-ckpt";
  const pid_t pid = spawn([&] {
    for (;;) {  // train until killed (again from the last checkpoint if the run ends first)
      auto net = std::make_unique<net_t>();
      init_frobenius(net->parameters(), 1.0, 5);
      auto o = opt;
      o.resume = true;
      train(*net, train_set, test_set, o);
    }
  });
  // Wait for a first checkpoint, then kill somewhere in the rest of the run.
  while (!latest_checkpoint(opt.checkpoint_dir)) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::mt19937_64 rng(7);
  std::this_thread::sleep_for(std::uniform_int_distribution<long>(0, std::max<long>(1, run_ms.count()))(rng) *
                              std::chrono::milliseconds(1));
  kill_and_reap(pid);
  const auto latest = latest_checkpoint(opt.checkpoint_dir);
  BOOST_TEST_REQUIRE(latest.has_value());
  BOOST_TEST_MESSAGE("killed after " << latest->filename().string());
  // What a kill between a temporary file and its rename leaves (rarely hit by chance here).
  for (const char* f : {"summary.json", "observations.csv", "margins.csv"})
    write_text(dir.path / "killed" / (std::string(f) + ".tmp-" + std::to_string(pid)), "cut");

  auto resumed = std::make_unique<net_t>();
  init_frobenius(resumed->parameters(), 2.0, 99);
  opt.resume = true;
  const auto r = train(*resumed, train_set, test_set, opt);
  BOOST_TEST(r.resumed_from_epoch >= 1u);
  BOOST_TEST((bytes_of(*resumed) == bytes_of(*straight)));
  BOOST_TEST(without_column(read_text(dir.path / "killed" / "observations.csv"), "seconds") ==
             without_column(read_text(dir.path / "straight" / "observations.csv"), "seconds"));
  BOOST_TEST(read_text(dir.path / "killed" / "margins.csv") == read_text(dir.path / "straight" / "margins.csv"));
  auto names = [](const fs::path& d) {
    std::set<std::string> n;
    for (const auto& e : fs::directory_iterator(d)) n.insert(e.path().filename().string());
    return n;
  };
  BOOST_TEST((names(dir.path / "killed") == names(dir.path / "straight")));  // the leftovers went
}
