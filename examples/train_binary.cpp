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

int run(const train_binary_cli::options& o, int argc, char** argv) {
  const fs::path out = o.out, ckpt = o.checkpoint_dir;
  const auto mode = o.overwrite ? run_folder::mode::overwrite
                                : o.resume ? run_folder::mode::resume : run_folder::mode::fresh;
  run_folder::claim claim = run_folder::claim_folder(out, "train_binary", "--out", mode, is_train_binary_run);
  folder_lock ckpt_lock;  // the checkpoint folder's own lock, unless it is --out
  if (!ckpt.empty() && fs::weakly_canonical(ckpt) != fs::weakly_canonical(out)) {
    try {
      ckpt_lock = folder_lock(ckpt, "train_binary");
    } catch (const folder_in_use& e) {
      throw std::runtime_error(std::string("--checkpoint-dir ") + e.what());
    }
  }

  std::mutex manifest_mutex;
  nlohmann::json manifest;
  bool written = false;
  auto write_manifest = [&] {
    write_file_atomically(out / "manifest.json", manifest.dump(2) + "\n");
    written = true;
  };
  // A signal sets `stop`: training ends after its step in progress, with a checkpoint of that
  // step (with --checkpoint-dir) and summary.json; the watcher waits for that (`training`).
  std::atomic<bool> stop{false};
  std::mutex training_mutex;
  std::condition_variable training_cv;
  bool training = false;
  interrupt::watcher watcher([&](int signo) {
    stop = true;
    {
      std::unique_lock<std::mutex> hold(training_mutex);
      training_cv.wait(hold, [&] { return !training; });
    }
    manifest_mutex.lock();  // never unlocked: the process ends after this
    const char* sig = interrupt::signal_name(signo);
    if (written) {
      manifest["status"] = "interrupted";
      manifest["interrupted"] = {{"signal", sig}, {"at", now_utc()}};
      try {
        write_manifest();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "\ntrain_binary: could not record the interruption: %s\n", e.what());
      }
    }
    if (ckpt.empty())
      std::fprintf(stderr, "\ntrain_binary: interrupted by %s; without --checkpoint-dir there is nothing to resume\n",
                   sig);
    else
      std::fprintf(stderr,
                   "\ntrain_binary: interrupted by %s; the checkpoints in %s are complete, the newest of the step "
                   "training stopped at: run the same command with --resume to continue\n",
                   sig, ckpt.c_str());
  });

  const auto data = train_binary::load_data(o);

  std::string cmd;
  for (int i = 0; i < argc; ++i) cmd += (i ? " " : "") + spawn::shown({argv[i]});
  {
    std::lock_guard<std::mutex> hold(manifest_mutex);
    if (o.overwrite) {
      if (claim.had_run) std::printf("--overwrite: replacing the earlier run in %s\n", out.c_str());
      run_folder::clear(out, ckpt.empty() ? fs::path() : ckpt);
      if (!ckpt.empty())  // the trainer's checkpoints only: anything else there is not ours
        for (const auto& e : fs::directory_iterator(ckpt))
          if (e.path().filename().string().rfind("ckpt-", 0) == 0) fs::remove_all(e.path());
    }
    manifest = {{"program", "train_binary"},
                {"command", cmd},
                {"started", claim.had_run && o.resume ? claim.manifest.value("started", now_utc()) : now_utc()},
                {"status", "running"},
                {"options",
                 {{"epochs", o.epochs}, {"class_a", o.class_a}, {"class_b", o.class_b}, {"lr", o.lr},
                  {"wd", o.wd}, {"init", o.init}, {"train_samples", train_binary::train_samples(*data)},
                  {"test_samples", train_binary::test_samples(*data)}, {"checkpoint_dir", o.checkpoint_dir},
                  {"checkpoint_every", o.checkpoint_every}, {"keep_checkpoints", o.keep_checkpoints}}}};
    if (claim.had_run && o.resume) manifest["resumed"] = now_utc();
    // --override: the earlier ones stay listed; summary.json's "changes" says at which step.
    nlohmann::json overrides = claim.had_run && o.resume ? claim.manifest.value("overrides", nlohmann::json::array())
                                                         : nlohmann::json::array();
    for (const auto& v : o.overrides) overrides.push_back({{"key", v.key}, {"value", v.value}, {"at", now_utc()}});
    if (!overrides.empty()) manifest["overrides"] = overrides;
    write_manifest();
  }

  auto finish = [&](const char* status, const std::string& error) {
    std::lock_guard<std::mutex> hold(manifest_mutex);
    manifest["status"] = status;
    if (!error.empty()) manifest["error"] = error;
    write_manifest();
  };
  train_binary::outcome f;
  auto set_training = [&](bool on) {
    std::lock_guard<std::mutex> hold(training_mutex);
    training = on;
    training_cv.notify_all();
  };
  try {
    set_training(!stop);
    f = train_binary::run_training(o, *data, &stop);
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
  std::uint64_t epochs = o.epochs;
  for (const auto& v : o.overrides)
    if (v.key == "epochs") epochs = std::uint64_t(v.value);
  std::printf("%llu epochs in %.1f s (%.2f s/epoch incl. observations): train error %.4f, "
              "test error %.4f, rho %.4f, rho_eq %.4f\nCSV: %s/observations.csv\n",
              static_cast<unsigned long long>(epochs), f.seconds, f.seconds / double(epochs),
              f.train_error, f.test_error, f.rho, f.rho_eq, out.c_str());
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
    return run(o, argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_binary: %s\n", e.what());
    return 1;
  }
}
