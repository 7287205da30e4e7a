// Train the paper's FC4-BN net on two Fashion-MNIST classes and log every observable of the
// theory each epoch (docs/observables.md): OUT/observations.csv, margins.csv, summary.json,
// and manifest.json (the command, the options, the status).
//   train_binary [--epochs N] [--class-a a] [--class-b b] [--lr X] [--wd X] [--init X] [--out DIR]
//                [--limit-train N] [--limit-test N] [--overwrite] [--threads N]
//                [--checkpoint-dir DIR [--checkpoint-every N] [--keep-checkpoints N] [--resume]]
// --out must be new or empty, or hold an earlier run of train_binary (--overwrite replaces
// it, --resume continues it); both folders are locked while the program runs. Exits 1 with a
// message naming the epoch, step and layer if training diverges (NaN, Inf or an exploding
// loss); the last checkpoint then holds the last good state. Exit 2: a bad command line;
// 128 + signal: interrupted by SIGINT or SIGTERM.
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>

#include <nlohmann/json.hpp>
#include <rhonet/core/ensure_blas_kernels.hpp>
#include <rhonet/io/durable_file.hpp>
#include <rhonet/io/folder_lock.hpp>

#include "common/interrupt.hpp"
#include "common/run_folder.hpp"
#include "common/spawn.hpp"
#include "train_binary_cli.hpp"
#include "train_binary_run.hpp"

using namespace rhonet;
namespace fs = std::filesystem;

namespace {

// A folder holds a run of train_binary if its manifest says so, or (written before there was
// a manifest) it holds only the files a run writes.
bool is_train_binary_run(const std::vector<std::string>& names, const nlohmann::json& m) {
  if (m.is_object() && m.contains("program")) return m["program"] == "train_binary";
  for (const auto& n : names)
    if (n != "observations.csv" && n != "margins.csv" && n != "summary.json") return false;
  return true;
}

std::string now_utc() {
  const auto now = std::time(nullptr);
  char when[64];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return when;
}

// One run of train_binary: the output and checkpoint folders (locked), manifest.json, the
// training, and what a signal does meanwhile. run() goes through the phases in order.
class binary_run {
 public:
  // Locks and checks the folders before the data is loaded, so a refusal comes at once; from
  // here on a signal stops training cleanly.
  explicit binary_run(const train_binary_cli::options& o)
      : o_(o),
        out_(o.out),
        ckpt_(o.checkpoint_dir),
        claim_(run_folder::claim_folder(out_, "train_binary", "--out", run_folder::mode_of(o.overwrite, o.resume),
                                        is_train_binary_run)),
        ckpt_lock_(lock_checkpoint_folder()) {}

  int run(int argc, char** argv);

 private:
  const train_binary_cli::options& o_;
  const fs::path out_, ckpt_;
  run_folder::claim claim_;
  folder_lock ckpt_lock_;  // the checkpoint folder's own lock, unless it is --out
  std::mutex manifest_mutex_;
  nlohmann::json manifest_;
  bool written_ = false;
  // A signal sets `stop_`: training ends after its step in progress, with a checkpoint of that
  // step (with --checkpoint-dir) and summary.json; the watcher waits for that (`training_`).
  std::atomic<bool> stop_{false};
  std::mutex training_mutex_;
  std::condition_variable training_cv_;
  bool training_ = false;
  // Last: its thread calls on_signal, which uses every member above.
  interrupt::watcher watcher_{[this](int signo) { on_signal(signo); }};

  folder_lock lock_checkpoint_folder() const {
    if (ckpt_.empty() || fs::weakly_canonical(ckpt_) == fs::weakly_canonical(out_)) return {};
    try {
      return folder_lock(ckpt_, "train_binary");
    } catch (const folder_in_use& e) {
      throw std::runtime_error(std::string("--checkpoint-dir ") + e.what());
    }
  }
  void write_manifest() {
    write_file_atomically(out_ / "manifest.json", manifest_.dump(2) + "\n");
    written_ = true;
  }
  void on_signal(int signo);
  void write_start(int argc, char** argv, const train_binary::prepared& d);
  void set_training(bool on) {
    std::lock_guard<std::mutex> hold(training_mutex_);
    training_ = on;
    training_cv_.notify_all();
  }
  void finish(const char* status, const std::string& error) {
    std::lock_guard<std::mutex> hold(manifest_mutex_);
    manifest_["status"] = status;
    if (!error.empty()) manifest_["error"] = error;
    write_manifest();
  }
};

// The watcher's thread, on SIGINT or SIGTERM: waits for training to stop at a checkpoint,
// records the interruption and says how to continue.
void binary_run::on_signal(int signo) {
  stop_ = true;
  {
    std::unique_lock<std::mutex> hold(training_mutex_);
    training_cv_.wait(hold, [&] { return !training_; });
  }
  manifest_mutex_.lock();  // never unlocked: the process ends after this
  const char* sig = interrupt::signal_name(signo);
  if (written_) {
    manifest_["status"] = "interrupted";
    manifest_["interrupted"] = {{"signal", sig}, {"at", now_utc()}};
    try {
      write_manifest();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "\ntrain_binary: could not record the interruption: %s\n", e.what());
    }
  }
  if (ckpt_.empty())
    std::fprintf(stderr, "\ntrain_binary: interrupted by %s; without --checkpoint-dir there is nothing to resume\n",
                 sig);
  else
    std::fprintf(stderr,
                 "\ntrain_binary: interrupted by %s; the checkpoints in %s are complete, the newest of the step "
                 "training stopped at: run the same command with --resume to continue\n",
                 sig, ckpt_.c_str());
}

// The manifest at the start: the command and the options. --overwrite clears the folders
// here, once the options and the data are known good.
void binary_run::write_start(int argc, char** argv, const train_binary::prepared& d) {
  std::string cmd;
  for (int i = 0; i < argc; ++i) cmd += (i ? " " : "") + spawn::shown({argv[i]});
  std::lock_guard<std::mutex> hold(manifest_mutex_);
  if (o_.overwrite) {
    if (claim_.had_run) std::printf("--overwrite: replacing the earlier run in %s\n", out_.c_str());
    run_folder::clear(out_, ckpt_.empty() ? fs::path() : ckpt_);
    if (!ckpt_.empty())  // the trainer's checkpoints only: anything else there is not ours
      for (const auto& e : fs::directory_iterator(ckpt_))
        if (e.path().filename().string().rfind("ckpt-", 0) == 0) fs::remove_all(e.path());
  }
  const bool resumed = claim_.had_run && o_.resume;
  manifest_ = {{"program", "train_binary"},
               {"command", cmd},
               {"started", resumed ? claim_.manifest.value("started", now_utc()) : now_utc()},
               {"status", "running"},
               {"options",
                {{"epochs", o_.epochs}, {"class_a", o_.class_a}, {"class_b", o_.class_b}, {"lr", o_.lr},
                 {"wd", o_.wd}, {"init", o_.init}, {"train_samples", train_binary::train_samples(d)},
                 {"test_samples", train_binary::test_samples(d)}, {"checkpoint_dir", o_.checkpoint_dir},
                 {"checkpoint_every", o_.checkpoint_every}, {"keep_checkpoints", o_.keep_checkpoints}}}};
  if (resumed) manifest_["resumed"] = now_utc();
  // --override: the earlier ones stay listed; summary.json's "changes" says at which step.
  nlohmann::json overrides =
      resumed ? claim_.manifest.value("overrides", nlohmann::json::array()) : nlohmann::json::array();
  for (const auto& v : o_.overrides) overrides.push_back({{"key", v.key}, {"value", v.value}, {"at", now_utc()}});
  if (!overrides.empty()) manifest_["overrides"] = overrides;
  write_manifest();
}

int binary_run::run(int argc, char** argv) {
  const auto data = train_binary::load_data(o_);
  write_start(argc, argv, *data);
  train_binary::outcome f;
  try {
    set_training(!stop_);
    f = train_binary::run_training(o_, *data, &stop_);
    set_training(false);
  } catch (const train_binary::interrupted&) {
    set_training(false);
    interrupt::wait_for_exit();  // the watcher records the interruption and ends the process
  } catch (const train_binary::diverged& e) {
    set_training(false);
    finish("diverged", e.what());
    throw;
  } catch (const std::exception& e) {
    set_training(false);
    finish("failed", e.what());
    throw;
  }
  finish("finished", "");
  std::uint64_t epochs = o_.epochs;
  for (const auto& v : o_.overrides)
    if (v.key == "epochs") epochs = std::uint64_t(v.value);
  std::printf("%llu epochs in %.1f s (%.2f s/epoch incl. observations): train error %.4f, "
              "test error %.4f, rho %.4f, rho_eq %.4f\nCSV: %s/observations.csv\n",
              static_cast<unsigned long long>(epochs), f.seconds, f.seconds / double(epochs),
              f.train_error, f.test_error, f.rho, f.rho_eq, out_.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  ensure_blas_kernels(argc, argv);  // OpenBLAS on the CPU's best kernels (docs/performance.md)
  train_binary_cli::options o;
  try {
    o = train_binary_cli::parse(argc, argv);
  } catch (const cli::usage_error& e) {
    return cli::usage_exit(e, "train_binary");
  }
  try {
    return binary_run(o).run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_binary: %s\n", e.what());
    return 1;
  }
}
