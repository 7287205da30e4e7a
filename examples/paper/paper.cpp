// paper: reproduces the experiments of Poggio & Liao on real data (two classes of
// Fashion-MNIST by default, CIFAR-10's binary batches when given), writes per-run CSV and
// JSON (docs/run-format.md), then figures and REPORT.md (report.py, run without a shell).
// The output folder is locked while the program runs, refused if it holds something else,
// and its manifest.json says at every moment which runs finished (docs/reliability.md).
// Exit codes: 0 done; 1 a run diverged or an error; 2 a bad command line; 128 + signal when
// interrupted by SIGINT or SIGTERM.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <exception>
#include <functional>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>
#include <rhonet/core/ensure_blas_kernels.hpp>
#include <rhonet/core/threads.hpp>
#include <rhonet/io/durable_file.hpp>

#include "common/interrupt.hpp"
#include "common/run_folder.hpp"
#include "common/spawn.hpp"
#include "experiment.hpp"
#include "paper_cli.hpp"
#include "sweep.hpp"
#include "sweep_mpi.hpp"


namespace fs = std::filesystem;
using paper::setting;

namespace {

// A folder holds a run of paper if its manifest says so (or, written before the manifest
// named its program, has paper's command and settings).
bool is_paper_run(const std::vector<std::string>&, const nlohmann::json& m) {
  if (!m.is_object()) return false;
  if (m.contains("program")) return m["program"] == "paper";
  return m.contains("command") && m.contains("settings");
}

// manifest.json, shared by the training loop and the signal watcher; every change is written
// at once (atomically), so the file always says which runs finished.
struct live_manifest {
  std::mutex mutex;
  nlohmann::json j;
  fs::path file;
  bool written = false;

  template <class F>
  void update(F&& change) {
    std::lock_guard<std::mutex> hold(mutex);
    change(j);
    rhonet::write_file_atomically(file, j.dump(2) + "\n");
    written = true;
  }
};

std::string now_utc() {
  const auto now = std::time(nullptr);
  char when[64];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return when;
}

// What defines the results of a sweep: a resumed sweep must have the same.
nlohmann::json sweep_config(const paper_cli::options& o, const paper::data_info& d) {
  nlohmann::json settings = nlohmann::json::array();
  for (const auto& s : o.settings)
    settings.push_back({{"name", s.name}, {"arch", s.arch}, {"width", s.width}, {"bn", s.bn}, {"wn", s.wn},
                        {"wd", s.wd}, {"lr", s.lr}, {"momentum", s.momentum}, {"epochs", s.epochs},
                        {"batch", s.batch}, {"inits", s.init_labels}, {"flow_samples", s.flow_samples}});
  return {{"data", o.data},
          {"classes", o.classes},
          {"outputs", o.outputs},
          {"train_samples", d.train},
          {"test_samples", d.test},
          {"seed", o.seed},
          {"seeds", o.seeds},
          {"fallback_lr_factor", o.fallback},
          {"settings", settings}};
}

// The first field in which the earlier sweep's configuration differs, as a message; empty
// if they agree.
std::string config_mismatch(const nlohmann::json& old_manifest, const nlohmann::json& now) {
  if (!old_manifest.contains("config") || !old_manifest["config"].is_object())
    return "it records no configuration (written by an older paper)";
  nlohmann::json old = old_manifest["config"];
  if (!old.contains("seeds")) old["seeds"] = 1;  // written before --seeds: one seed
  for (const auto& [key, value] : now.items()) {
    if (!old.contains(key) || old[key] != value) {
      auto cut = [](std::string s) { return s.size() > 160 ? s.substr(0, 157) + "..." : s; };
      return key + " was " + cut(old.contains(key) ? old[key].dump() : "not recorded") + ", this command gives " +
             cut(value.dump());
    }
  }
  return {};
}

// "a init 1 and b init 5", for the interruption message.
std::string in_progress(const std::set<std::string>& running) {
  if (running.empty()) return "the start of the sweep";
  std::string text;
  std::size_t k = 0;
  for (const auto& r : running) text += (k++ == 0 ? "" : k == running.size() ? " and " : ", ") + r;
  return text;
}

// Whether a run folder holds a complete checkpoint (ckpt/ckpt-<n>/manifest.json) to resume
// from; the trainer checks it in full (and falls back past a damaged one).
bool has_checkpoint(const fs::path& run) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(paper::checkpoint_dir(run), ec)) {
    const std::string n = e.path().filename().string();
    if (n.size() > 5 && n.rfind("ckpt-", 0) == 0 && n.find_first_not_of("0123456789", 5) == std::string::npos &&
        fs::is_regular_file(e.path() / "manifest.json", ec))
      return true;
  }
  return false;
}

// Runs the sweep in this process (mpi null) or, under mpirun, as rank 0 (sweep_mpi.hpp).
int run_sweep(const paper_cli::options& o, int argc, char** argv, sweep_mpi::session* mpi) {
  const fs::path out_dir = o.out;
  const auto mode = o.overwrite ? run_folder::mode::overwrite
                                : o.resume ? run_folder::mode::resume : run_folder::mode::fresh;
  // Lock and check the folder before the (slow) data loading, so a refusal comes at once.
  run_folder::claim claim = run_folder::claim_folder(out_dir, "paper", "--out", mode, is_paper_run);

  live_manifest manifest;
  manifest.file = out_dir / "manifest.json";
  std::atomic<pid_t> report_child{0};
  std::set<std::string> running;  // the runs in progress (under manifest.mutex)
  // A signal sets `stop`: every run ends after its step in progress with a checkpoint of that
  // moment; the watcher waits for the workers (`active`) before it records the interruption.
  std::atomic<bool> stop{false};
  std::mutex active_mutex;
  std::condition_variable active_cv;
  std::size_t active = 0;
  // Under mpirun the other ranks got the signal too (mpirun passes it on as SIGTERM); their
  // runs stop and say at which checkpoint, which rank 0 waits for a moment. mpirun kills the
  // ranks a second after their SIGTERM, by default (docs/distributed.md), so rank 0 also
  // records the interruption at once, before the runs have stopped.
  std::atomic<bool> remote_done{mpi == nullptr};
  auto remote_runs_reported = [&] {
    std::lock_guard<std::mutex> hold(manifest.mutex);
    for (const auto& r : manifest.j.value("runs", nlohmann::json::array())) {
      const std::string status = r.value("status", "");
      if ((status == "running" || status == "interrupted") && r.value("rank", 0) != 0 && !r.contains("checkpoint"))
        return false;
    }
    return true;
  };
  auto mark_interrupted = [&](nlohmann::json& j, const char* sig) {
    j["status"] = "interrupted";
    for (auto& r : j["runs"])
      if (r["status"] == "running") r["status"] = "interrupted";
    j["interrupted"] = {{"signal", sig}, {"at", now_utc()}};
  };
  interrupt::watcher watcher([&](int signo) {
    stop = true;
    const char* sig = interrupt::signal_name(signo);
    bool marked = false;  // under mpirun: recorded at once
    if (mpi) {
      std::lock_guard<std::mutex> hold(manifest.mutex);
      if (manifest.written && manifest.j["status"] == "running") {
        mark_interrupted(manifest.j, sig);
        marked = true;
        try {
          rhonet::write_file_atomically(manifest.file, manifest.j.dump(2) + "\n");
        } catch (const std::exception&) {  // said below, if this rank lives on
        }
      }
    }
    {
      std::unique_lock<std::mutex> hold(active_mutex);
      active_cv.wait(hold, [&] { return active == 0; });
    }
    for (int k = 0; k < 100 && !remote_done && !remote_runs_reported(); ++k)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    // Never unlocked: the process ends after this, and nothing may write the manifest after it.
    manifest.mutex.lock();
    if (const pid_t child = report_child.load()) ::kill(child, SIGTERM);
    if (!manifest.written) {
      std::fprintf(stderr, "\npaper: interrupted by %s before training started; nothing was written to %s\n", sig,
                   out_dir.c_str());
      return;
    }
    auto& j = manifest.j;
    const bool training = marked || j["status"] == "running";
    if (training)
      mark_interrupted(j, sig);
    else {
      j["report"] = "interrupted";
      j["interrupted"] = {{"signal", sig}, {"at", now_utc()}};
    }
    try {
      rhonet::write_file_atomically(manifest.file, j.dump(2) + "\n");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "\npaper: could not record the interruption: %s\n", e.what());
    }
    if (training)
      std::fprintf(stderr,
                   "\npaper: interrupted by %s during %s; the runs that finished are kept in %s (manifest.json "
                   "lists them), and each interrupted run has a checkpoint of the step it stopped at. To continue, "
                   "run the same command with --resume.\n",
                   sig, in_progress(running).c_str(), out_dir.c_str());
    else
      std::fprintf(stderr,
                   "\npaper: interrupted by %s during the report step; the runs are complete. To make the "
                   "report: /usr/bin/python3 %s %s\n",
                   sig, RHONET_PAPER_REPORT_SCRIPT, spawn::shown({out_dir.string()}).c_str());
  });

  std::string shown;
  for (int c : o.classes) shown += (shown.empty() ? "" : o.classes.size() == 2 ? " vs " : ", ") + std::to_string(c);
  std::printf("loading %s, classes %s ...\n", o.data.c_str(), shown.c_str());
  const auto prepared = paper::load_data(sweep::data_request_of(o));
  const paper::data_info d = paper::describe(*prepared);
  std::printf("%zu training and %zu test samples, %zu x %zu x %zu\n", d.train, d.test, d.channels, d.side, d.side);

  const sweep::settings_plan plan = sweep::make_settings(o);
  // Every setting and init runs once per seed: o.seed, o.seed + 1, ... (the CLI keeps them in range).
  std::vector<std::uint64_t> seeds;
  for (std::uint64_t k = 0; k < o.seeds; ++k) seeds.push_back(o.seed + k);
  const bool several_seeds = seeds.size() > 1;
  const std::vector<setting>& settings = plan.settings;
  const nlohmann::json config = sweep_config(o, d);

  // Runs kept from the earlier sweep (--resume): those it records as done, with a summary;
  // `earlier` holds every run entry of that sweep (an interrupted run continues its attempt).
  std::map<std::string, nlohmann::json> kept, earlier;
  if (claim.had_run && o.resume) {
    if (const std::string diff = config_mismatch(claim.manifest, config); !diff.empty())
      throw std::runtime_error("--resume: the run in '" + out_dir.string() + "' has other options: " + diff +
                               "; give the options of that run (with --override KEY=VALUE to change lr, momentum, "
                               "wd or epochs), or --overwrite to start over");
    for (const auto& r : claim.manifest.value("runs", nlohmann::json::array())) {
      if (!r.is_object()) continue;
      earlier[r.value("folder", "")] = r;
      if ((r.value("status", "") == "finished" || r.value("status", "") == "diverged") &&
          fs::exists(out_dir / r.value("folder", "") / "summary.json"))
        kept[r.value("folder", "")] = r;
    }
  }
  // --override (with --resume): the runs trained from now on use the new values
  // (sweep::make_settings); the manifest lists every override the sweep has had.
  nlohmann::json overrides = claim.had_run && o.resume ? claim.manifest.value("overrides", nlohmann::json::array())
                                                       : nlohmann::json::array();
  for (const auto& v : o.overrides) {
    overrides.push_back({{"key", v.key}, {"value", v.value}, {"at", now_utc()}});
    std::printf("--override: %s = %g for the runs trained from now on\n", v.key.c_str(), v.value);
  }

  // Under mpirun, the other ranks check that they see this folder: its manifest carries this token.
  const std::string mpi_token =
      mpi ? sweep_mpi::host(*mpi) + ":" + std::to_string(::getpid()) + ":" + now_utc() : std::string();
  std::string cmd;
  for (int i = 0; i < argc; ++i) cmd += (i ? " " : "") + spawn::shown({argv[i]});
  manifest.update([&](nlohmann::json& j) {
    if (claim.had_run && o.overwrite) {
      std::printf("--overwrite: replacing the earlier run in %s\n", out_dir.c_str());
      run_folder::clear(out_dir);
    }
    j["program"] = "paper";
    j["command"] = cmd;
    j["started"] = claim.had_run && o.resume ? claim.manifest.value("started", now_utc()) : now_utc();
    if (claim.had_run && o.resume) j["resumed"] = now_utc();
    j["status"] = "running";
    j["preset"] = o.preset;
    j["data"] = {{"name", d.name}, {"classes", o.classes}, {"train", d.train},
                 {"test", d.test}, {"outputs", o.outputs},
                 {"preprocessing", "per-channel standardisation, unit L2 norm, bias component for FC"}};
    j["machine"] = {{"hardware_threads", std::thread::hardware_concurrency()}};
    j["settings"] = config["settings"];
    j["config"] = config;
    if (!overrides.empty()) j["overrides"] = overrides;
    if (mpi) j["mpi"] = {{"ranks", sweep_mpi::ranks(*mpi)}, {"rank0_host", sweep_mpi::host(*mpi)}, {"token", mpi_token}};
    j["seeds"] = seeds;
    j["runs"] = nlohmann::json::array();
    for (const auto& s : settings)
      for (const auto& label : s.init_labels)
        for (const std::uint64_t seed : seeds) {
          const std::string folder = paper::run_folder(s.name, label, seed, several_seeds);
          if (auto it = kept.find(folder); it != kept.end())
            j["runs"].push_back(it->second);
          else
            j["runs"].push_back({{"setting", s.name}, {"init", label}, {"seed", seed}, {"folder", folder},
                                 {"status", "pending"}});
        }
  });

  // The runs to train, in sweep order; `index` is the run's place in the manifest.
  std::vector<sweep::planned_run> todo;
  std::size_t run_index = 0;
  for (std::size_t k = 0; k < settings.size(); ++k)
    for (std::size_t i = 0; i < settings[k].inits.size(); ++i)
      for (const std::uint64_t seed : seeds) {
        const auto& s = settings[k];
        const std::string folder = paper::run_folder(s.name, s.init_labels[i], seed, several_seeds);
        const std::string title = paper::run_title(s.name, s.init_labels[i], seed, several_seeds);
        if (kept.count(folder))
          std::printf("%s kept from the earlier run (%s)\n", title.c_str(), kept[folder].value("status", "").c_str());
        else {
          const bool resume = o.resume && has_checkpoint(out_dir / folder);
          const int attempt = resume && earlier.count(folder) ? earlier[folder].value("attempt", 0) : 0;
          todo.push_back({k, i, run_index, seed, folder,
                          paper::run_name(s.name, s.init_labels[i], seed, several_seeds), title, resume, attempt});
          if (resume) std::printf("%s continues from its checkpoint\n", title.c_str());
        }
        ++run_index;
      }

  // Runs in parallel, one per core by default, each with one BLAS thread: at the paper's
  // sizes that trains more runs per second than one run on every core (docs/reproducing.md).
  // Under mpirun, one run per rank at a time, with one BLAS thread unless --threads says.
  const std::size_t jobs = mpi ? std::size_t(sweep_mpi::ranks(*mpi))
                               : o.jobs ? o.jobs : std::max(1u, std::thread::hardware_concurrency());
  const std::size_t workers = std::max<std::size_t>(1, std::min(jobs, todo.size()));
  if (o.threads > 0)
    rhonet::set_threads(int(o.threads));
  else if (workers > 1 || mpi)
    rhonet::set_threads(1);
  manifest.update([&](nlohmann::json& j) {
    j["machine"]["jobs"] = workers;
    j["machine"]["blas_threads"] = rhonet::threads();
  });
  if (mpi)
    std::printf("%zu runs over %d ranks, one run per rank at a time\n", todo.size(), sweep_mpi::ranks(*mpi));
  else if (workers > 1)
    std::printf("%zu runs, %zu at a time\n", todo.size(), workers);
  // Per-epoch progress lines only when one run goes at a time (they do not name their run).
  paper::run_options ro{out_dir, o.seed, !o.quiet && workers == 1 && !mpi};
  ro.overrides = plan.override_fields;
  ro.stop = &stop;
  const sweep::context context{plan, *prepared, ro, o.fallback};

  const auto t0 = std::chrono::steady_clock::now();
  // Every status change of a run goes through here, from this process's threads or (under
  // mpirun) from the other ranks: the manifest says it at once. Under mpirun a failed run
  // does not stop the sweep; in one process no new run starts after a failure.
  std::atomic<bool> failed{false};
  std::exception_ptr first_error;
  std::map<std::size_t, std::string> failures;  // run index -> "name (rank r): error", under mpirun
  auto record = [&](std::size_t index, const nlohmann::json& change, int rank) {
    manifest.update([&](nlohmann::json& j) {
      const auto& run = j["runs"][index];
      const std::string name =
          paper::run_name(run.value("setting", ""), run.value("init", ""), run.value("seed", o.seed), several_seeds);
      sweep::apply_change(j, index, change);
      const std::string status = change.value("status", "");
      if (status == "running") running.insert(name);
      if (status == "finished" || status == "diverged" || status == "failed") running.erase(name);
      if (status == "failed") {
        const std::string error = change.value("error", "");
        if (!first_error) first_error = std::make_exception_ptr(std::runtime_error(error));
        if (mpi) {
          failures[index] = name + " (rank " + std::to_string(rank) + "): " + error;
          std::fprintf(stderr, "paper: %s failed on rank %d: %s\n", name.c_str(), rank, error.c_str());
        }
      }
    });
  };
  const nlohmann::json here =
      mpi ? nlohmann::json{{"rank", 0}, {"host", sweep_mpi::host(*mpi)}} : nlohmann::json::object();
  // Trains the runs `next` gives until there are none (or a signal, or in one process a failure).
  auto train_runs = [&](const std::function<std::optional<sweep::planned_run>()>& next) {
    {
      std::lock_guard<std::mutex> hold(active_mutex);
      ++active;
    }
    struct leave {
      std::mutex& m;
      std::condition_variable& cv;
      std::size_t& n;
      ~leave() {
        std::lock_guard<std::mutex> hold(m);
        --n;
        cv.notify_all();
      }
    } on_exit{active_mutex, active_cv, active};
    while (!failed && !stop) {
      const auto t = next();
      if (!t) break;
      std::string error;
      const auto r = sweep::train_run(context, *t, [&](const nlohmann::json& c) { record(t->index, c, 0); }, here,
                                      error);
      if (r == sweep::outcome::interrupted) return;
      if (r == sweep::outcome::failed && !mpi) failed = true;  // no new run starts; those under way finish
    }
  };
  if (mpi) {
    sweep_mpi::rank0_plan p;
    p.header = {{"out", fs::absolute(out_dir).string()}, {"token", mpi_token}};
    p.todo = todo;
    p.train_locally = train_runs;
    p.remote_change = record;
    p.stop = &stop;
    p.remote_done = &remote_done;
    const auto problems = sweep_mpi::run_on_ranks(*mpi, p);
    sweep_mpi::finalize(*mpi);  // the other ranks end now, not after the report
    if (!problems.empty()) {
      std::string text;
      for (const auto& q : problems) text += (text.empty() ? "" : "; ") + q;
      manifest.update([&](nlohmann::json& j) {
        j["status"] = "failed";
        j["error"] = text;
      });
      throw std::runtime_error("the sweep did not start: " + text);
    }
  }
  if (!mpi) {
    std::atomic<std::size_t> next{0};
    auto take = [&]() -> std::optional<sweep::planned_run> {
      const std::size_t k = next++;
      if (k >= todo.size()) return std::nullopt;
      return todo[k];
    };
    std::vector<std::thread> pool;
    for (std::size_t w = 1; w < workers; ++w) pool.emplace_back(train_runs, take);
    train_runs(take);
    for (auto& th : pool) th.join();
  }
  if (stop) interrupt::wait_for_exit();  // the watcher records the interruption and ends the process
  if (!failures.empty())
    throw std::runtime_error(std::to_string(failures.size()) + " of " + std::to_string(todo.size()) +
                             " runs failed (the others finished; --resume trains the failed ones again): " +
                             [&] {
                               std::string text;
                               for (const auto& [index, f] : failures) text += (text.empty() ? "" : "; ") + f;
                               return text;
                             }());
  if (first_error) std::rethrow_exception(first_error);

  int diverged = 0;
  manifest.update([&](nlohmann::json& j) {
    for (const auto& r : j["runs"]) diverged += r["status"] == "diverged";
    j["status"] = "finished";
    j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    j["diverged_runs"] = diverged;
  });

  if (!o.no_report) {
    const std::string python = fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
    const std::vector<std::string> call{python, RHONET_PAPER_REPORT_SCRIPT, fs::absolute(out_dir).string()};
    const spawn::outcome r = spawn::run(call, &report_child);
    const bool written = r.ok() && fs::exists(out_dir / "REPORT.md");
    manifest.update([&](nlohmann::json& j) { j["report"] = written ? "written" : "failed"; });
    if (!written)
      throw std::runtime_error("the report step failed: " + spawn::shown(call) + " " +
                               (r.ok() ? "wrote no REPORT.md" : r.describe()) + "; the runs are complete in " +
                               out_dir.string());
  }
  std::printf("\nresults: %s\n", fs::absolute(out_dir).c_str());
  if (!o.no_report) {
    std::printf("report:  %s\n", fs::absolute(out_dir / "REPORT.md").c_str());
    std::printf("figures: %s\n", fs::absolute(out_dir / "figures").c_str());
  }
  if (diverged > 0) {
    std::fprintf(stderr, "paper: %d run(s) diverged (see their summary.json and the report)\n", diverged);
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  rhonet::ensure_blas_kernels(argc, argv);  // OpenBLAS on the CPU's best kernels (docs/performance.md)
  // Under mpirun, MPI starts here (after the restart onto the right kernels, which executes
  // the program again); a plain process makes no MPI call at all.
  sweep_mpi::session_ptr mpi;
  if (sweep_mpi::launched_by_mpirun()) {
    if (!sweep_mpi::available) {
      const char* r = std::getenv("OMPI_COMM_WORLD_RANK");
      if (!r || std::string(r) == "0")
        std::fprintf(stderr, "paper: started by mpirun, but this paper was built without MPI (no MPI library was "
                             "found when it was configured); run it without mpirun, or install OpenMPI "
                             "(libopenmpi-dev) and build it again (docs/distributed.md)\n");
      return 2;
    }
    try {
      mpi = sweep_mpi::start_if_launched(argc, argv);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "paper: %s\n", e.what());
      return 1;
    }
  }
  const bool rank0 = !mpi || sweep_mpi::rank(*mpi) == 0;
  paper_cli::options o;
  try {
    o = paper_cli::parse(argc, argv);
  } catch (const cli::usage_error& e) {  // every rank parses the same command line: rank 0 says it
    return rank0 ? cli::usage_exit(e, "paper") : e.exit_code;
  }
  if (mpi && o.jobs > 0) {
    if (rank0)
      std::fprintf(stderr, "paper: --jobs: under mpirun every rank trains one run at a time; choose how many runs "
                           "go at once with mpirun -np\n");
    return cli::usage_error_exit;
  }
  try {
    if (!rank0) return sweep_mpi::serve_as_worker(*mpi, o);
    return run_sweep(o, argc, argv, mpi.get());
  } catch (const std::exception& e) {
    if (rank0)
      std::fprintf(stderr, "paper: %s\n", e.what());
    else
      std::fprintf(stderr, "paper (rank %d): %s\n", sweep_mpi::rank(*mpi), e.what());
    if (mpi) sweep_mpi::end_after_error(*mpi);
    return 1;
  }
}
