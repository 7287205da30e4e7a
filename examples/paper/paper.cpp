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

// One sweep, in this process (mpi null) or, under mpirun, as rank 0 (sweep_mpi.hpp): the
// output folder and its manifest, the runs to train, the workers, the report, and what a
// signal does meanwhile. run() goes through the phases in order.
class sweep_driver {
 public:
  // Locks and checks the folder before the (slow) data loading, so a refusal comes at once;
  // from here on a signal stops the sweep cleanly.
  sweep_driver(const paper_cli::options& o, sweep_mpi::session* mpi)
      : o_(o),
        mpi_(mpi),
        out_dir_(o.out),
        claim_(run_folder::claim_folder(out_dir_, "paper", "--out", run_folder::mode_of(o.overwrite, o.resume),
                                        is_paper_run)),
        remote_done_(mpi == nullptr) {}

  int run(int argc, char** argv);

 private:
  const paper_cli::options& o_;
  sweep_mpi::session* mpi_;
  const fs::path out_dir_;
  run_folder::claim claim_;
  live_manifest manifest_{{}, {}, out_dir_ / "manifest.json", false};
  std::atomic<pid_t> report_child_{0};
  std::set<std::string> running_;  // the runs in progress (under manifest_.mutex)
  // A signal sets `stop_`: every run ends after its step in progress with a checkpoint of that
  // moment; the watcher waits for the workers (`active_`) before it records the interruption.
  std::atomic<bool> stop_{false};
  std::mutex active_mutex_;
  std::condition_variable active_cv_;
  std::size_t active_ = 0;
  // Under mpirun the other ranks got the signal too (mpirun passes it on as SIGTERM); their
  // runs stop and say at which checkpoint, which rank 0 waits for a moment (they end only
  // after rank 0). mpirun kills the ranks a second after their SIGTERM, by default
  // (docs/distributed.md), so rank 0 also records the interruption at once, before the runs
  // have stopped.
  std::atomic<bool> remote_done_;

  // The plan: seeds, the earlier sweep's runs (--resume), the runs to train.
  std::vector<std::uint64_t> seeds_;
  bool several_seeds_ = false;
  // Runs kept from the earlier sweep (--resume): those it records as done, with a summary;
  // `earlier_` holds every run entry of that sweep (an interrupted run continues its attempt).
  std::map<std::string, nlohmann::json> kept_, earlier_;
  std::string mpi_token_;  // under mpirun, the other ranks check that they see this folder
  std::vector<sweep::planned_run> todo_;  // in sweep order; `index` is the run's place in the manifest

  // Outcomes. Under mpirun a failed run does not stop the sweep; in one process no new run
  // starts after a failure.
  std::atomic<bool> failed_{false};
  std::exception_ptr first_error_;
  std::map<std::size_t, std::string> failures_;  // run index -> "name (rank r): error", under mpirun

  // Last: its thread calls on_signal, which uses every member above.
  interrupt::watcher watcher_{[this](int signo) { on_signal(signo); }};

  void on_signal(int signo);
  bool remote_runs_reported();
  static void mark_interrupted(nlohmann::json& j, const char* sig);

  void read_earlier_sweep(const nlohmann::json& config);
  nlohmann::json overrides() const;
  void write_start(int argc, char** argv, const paper::data_info& d, const std::vector<setting>& settings,
                   const nlohmann::json& config, const nlohmann::json& overrides);
  void plan_todo(const std::vector<setting>& settings);
  std::size_t choose_workers();
  void record(std::size_t index, const nlohmann::json& change, int rank);
  void train_runs(const sweep::context& c, const std::function<std::optional<sweep::planned_run>()>& next);
  void train_on_ranks(const sweep::context& c);
  void train_here(const sweep::context& c, std::size_t workers);
  void rethrow_failures() const;
  int finish(std::chrono::steady_clock::time_point t0);
};

int sweep_driver::run(int argc, char** argv) {
  std::string shown;
  for (int c : o_.classes) shown += (shown.empty() ? "" : o_.classes.size() == 2 ? " vs " : ", ") + std::to_string(c);
  std::printf("loading %s, classes %s ...\n", o_.data.c_str(), shown.c_str());
  const auto prepared = paper::load_data(sweep::data_request_of(o_));
  const paper::data_info d = paper::describe(*prepared);
  std::printf("%zu training and %zu test samples, %zu x %zu x %zu\n", d.train, d.test, d.channels, d.side, d.side);

  const sweep::settings_plan plan = sweep::make_settings(o_);
  // Every setting and init runs once per seed: o.seed, o.seed + 1, ... (the CLI keeps them in range).
  for (std::uint64_t k = 0; k < o_.seeds; ++k) seeds_.push_back(o_.seed + k);
  several_seeds_ = seeds_.size() > 1;
  const nlohmann::json config = sweep_config(o_, d);
  read_earlier_sweep(config);
  write_start(argc, argv, d, plan.settings, config, overrides());
  plan_todo(plan.settings);
  const std::size_t workers = choose_workers();

  // Per-epoch progress lines only when one run goes at a time (they do not name their run).
  paper::run_options ro{out_dir_, o_.seed, !o_.quiet && workers == 1 && !mpi_};
  ro.overrides = plan.override_fields;
  ro.stop = &stop_;
  const sweep::context context{plan, *prepared, ro, o_.fallback};
  const auto t0 = std::chrono::steady_clock::now();
  if (mpi_)
    train_on_ranks(context);
  else
    train_here(context, workers);
  if (stop_) interrupt::wait_for_exit();  // the watcher records the interruption and ends the process
  rethrow_failures();
  return finish(t0);
}

void sweep_driver::mark_interrupted(nlohmann::json& j, const char* sig) {
  j["status"] = "interrupted";
  for (auto& r : j["runs"])
    if (r["status"] == "running") r["status"] = "interrupted";
  j["interrupted"] = {{"signal", sig}, {"at", now_utc()}};
}

bool sweep_driver::remote_runs_reported() {
  std::lock_guard<std::mutex> hold(manifest_.mutex);
  for (const auto& r : manifest_.j.value("runs", nlohmann::json::array())) {
    const std::string status = r.value("status", "");
    if ((status == "running" || status == "interrupted") && r.value("rank", 0) != 0 && !r.contains("checkpoint"))
      return false;
  }
  return true;
}

// The watcher's thread, on SIGINT or SIGTERM: waits for the runs to stop at a checkpoint,
// records the interruption in the manifest and says how to continue.
void sweep_driver::on_signal(int signo) {
  stop_ = true;
  const char* sig = interrupt::signal_name(signo);
  bool marked = false;  // under mpirun: recorded at once
  if (mpi_) {
    std::lock_guard<std::mutex> hold(manifest_.mutex);
    if (manifest_.written && manifest_.j["status"] == "running") {
      mark_interrupted(manifest_.j, sig);
      marked = true;
      try {
        rhonet::write_file_atomically(manifest_.file, manifest_.j.dump(2) + "\n");
      } catch (const std::exception&) {  // said below, if this rank lives on
      }
    }
  }
  {
    std::unique_lock<std::mutex> hold(active_mutex_);
    active_cv_.wait(hold, [&] { return active_ == 0; });
  }
  for (int k = 0; k < 100 && !remote_done_ && !remote_runs_reported(); ++k)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  // Never unlocked: the process ends after this, and nothing may write the manifest after it.
  manifest_.mutex.lock();
  if (const pid_t child = report_child_.load()) ::kill(child, SIGTERM);
  if (!manifest_.written) {
    std::fprintf(stderr, "\npaper: interrupted by %s before training started; nothing was written to %s\n", sig,
                 out_dir_.c_str());
    return;
  }
  auto& j = manifest_.j;
  const bool training = marked || j["status"] == "running";
  if (training)
    mark_interrupted(j, sig);
  else {
    j["report"] = "interrupted";
    j["interrupted"] = {{"signal", sig}, {"at", now_utc()}};
  }
  try {
    rhonet::write_file_atomically(manifest_.file, j.dump(2) + "\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "\npaper: could not record the interruption: %s\n", e.what());
  }
  if (training)
    std::fprintf(stderr,
                 "\npaper: interrupted by %s during %s; the runs that finished are kept in %s (manifest.json "
                 "lists them), and each interrupted run has a checkpoint of the step it stopped at. To continue, "
                 "run the same command with --resume.\n",
                 sig, in_progress(running_).c_str(), out_dir_.c_str());
  else
    std::fprintf(stderr,
                 "\npaper: interrupted by %s during the report step; the runs are complete. To make the "
                 "report: /usr/bin/python3 %s %s\n",
                 sig, RHONET_PAPER_REPORT_SCRIPT, spawn::shown({out_dir_.string()}).c_str());
}

// --resume: the earlier sweep must have had this configuration; its finished runs are kept.
void sweep_driver::read_earlier_sweep(const nlohmann::json& config) {
  if (!claim_.had_run || !o_.resume) return;
  if (const std::string diff = config_mismatch(claim_.manifest, config); !diff.empty())
    throw std::runtime_error("--resume: the run in '" + out_dir_.string() + "' has other options: " + diff +
                             "; give the options of that run (with --override KEY=VALUE to change lr, momentum, "
                             "wd or epochs), or --overwrite to start over");
  for (const auto& r : claim_.manifest.value("runs", nlohmann::json::array())) {
    if (!r.is_object()) continue;
    earlier_[r.value("folder", "")] = r;
    if ((r.value("status", "") == "finished" || r.value("status", "") == "diverged") &&
        fs::exists(out_dir_ / r.value("folder", "") / "summary.json"))
      kept_[r.value("folder", "")] = r;
  }
}

// --override (with --resume): the runs trained from now on use the new values
// (sweep::make_settings); the manifest lists every override the sweep has had.
nlohmann::json sweep_driver::overrides() const {
  nlohmann::json all = claim_.had_run && o_.resume ? claim_.manifest.value("overrides", nlohmann::json::array())
                                                   : nlohmann::json::array();
  for (const auto& v : o_.overrides) {
    all.push_back({{"key", v.key}, {"value", v.value}, {"at", now_utc()}});
    std::printf("--override: %s = %g for the runs trained from now on\n", v.key.c_str(), v.value);
  }
  return all;
}

// The manifest at the start: the command, the data, the configuration and every run (kept or
// pending). --overwrite clears the folder here, once the options and the data are known good.
void sweep_driver::write_start(int argc, char** argv, const paper::data_info& d, const std::vector<setting>& settings,
                               const nlohmann::json& config, const nlohmann::json& overrides) {
  mpi_token_ = mpi_ ? sweep_mpi::host(*mpi_) + ":" + std::to_string(::getpid()) + ":" + now_utc() : std::string();
  std::string cmd;
  for (int i = 0; i < argc; ++i) cmd += (i ? " " : "") + spawn::shown({argv[i]});
  manifest_.update([&](nlohmann::json& j) {
    if (claim_.had_run && o_.overwrite) {
      std::printf("--overwrite: replacing the earlier run in %s\n", out_dir_.c_str());
      run_folder::clear(out_dir_);
    }
    j["program"] = "paper";
    j["command"] = cmd;
    j["started"] = claim_.had_run && o_.resume ? claim_.manifest.value("started", now_utc()) : now_utc();
    if (claim_.had_run && o_.resume) j["resumed"] = now_utc();
    j["status"] = "running";
    j["preset"] = o_.preset;
    j["data"] = {{"name", d.name}, {"classes", o_.classes}, {"train", d.train},
                 {"test", d.test}, {"outputs", o_.outputs},
                 {"preprocessing", "per-channel standardisation, unit L2 norm, bias component for FC"}};
    j["machine"] = {{"hardware_threads", std::thread::hardware_concurrency()}};
    j["settings"] = config["settings"];
    j["config"] = config;
    if (!overrides.empty()) j["overrides"] = overrides;
    if (mpi_)
      j["mpi"] = {{"ranks", sweep_mpi::ranks(*mpi_)}, {"rank0_host", sweep_mpi::host(*mpi_)}, {"token", mpi_token_}};
    j["seeds"] = seeds_;
    j["runs"] = nlohmann::json::array();
    for (const auto& s : settings)
      for (const auto& label : s.init_labels)
        for (const std::uint64_t seed : seeds_) {
          const std::string folder = paper::run_folder(s.name, label, seed, several_seeds_);
          if (auto it = kept_.find(folder); it != kept_.end())
            j["runs"].push_back(it->second);
          else
            j["runs"].push_back({{"setting", s.name}, {"init", label}, {"seed", seed}, {"folder", folder},
                                 {"status", "pending"}});
        }
  });
}

// The runs to train, in sweep order: all but the kept ones; an interrupted run continues from
// its checkpoint.
void sweep_driver::plan_todo(const std::vector<setting>& settings) {
  std::size_t run_index = 0;
  for (std::size_t k = 0; k < settings.size(); ++k)
    for (std::size_t i = 0; i < settings[k].inits.size(); ++i)
      for (const std::uint64_t seed : seeds_) {
        const auto& s = settings[k];
        const std::string folder = paper::run_folder(s.name, s.init_labels[i], seed, several_seeds_);
        const std::string title = paper::run_title(s.name, s.init_labels[i], seed, several_seeds_);
        if (kept_.count(folder))
          std::printf("%s kept from the earlier run (%s)\n", title.c_str(), kept_[folder].value("status", "").c_str());
        else {
          const bool resume = o_.resume && has_checkpoint(out_dir_ / folder);
          const int attempt = resume && earlier_.count(folder) ? earlier_[folder].value("attempt", 0) : 0;
          todo_.push_back({k, i, run_index, seed, folder,
                           paper::run_name(s.name, s.init_labels[i], seed, several_seeds_), title, resume, attempt});
          if (resume) std::printf("%s continues from its checkpoint\n", title.c_str());
        }
        ++run_index;
      }
}

// Runs in parallel, one per core by default, each with one BLAS thread: at the paper's
// sizes that trains more runs per second than one run on every core (docs/reproducing.md).
// Under mpirun, one run per rank at a time, with one BLAS thread unless --threads says.
// Returns the number of runs trained at once in this process.
std::size_t sweep_driver::choose_workers() {
  const std::size_t jobs = mpi_ ? std::size_t(sweep_mpi::ranks(*mpi_))
                                : o_.jobs ? o_.jobs : std::max(1u, std::thread::hardware_concurrency());
  const std::size_t workers = std::max<std::size_t>(1, std::min(jobs, todo_.size()));
  if (o_.threads > 0)
    rhonet::set_threads(int(o_.threads));
  else if (workers > 1 || mpi_)
    rhonet::set_threads(1);
  manifest_.update([&](nlohmann::json& j) {
    j["machine"]["jobs"] = workers;
    j["machine"]["blas_threads"] = rhonet::threads();
  });
  if (mpi_)
    std::printf("%zu runs over %d ranks, one run per rank at a time\n", todo_.size(), sweep_mpi::ranks(*mpi_));
  else if (workers > 1)
    std::printf("%zu runs, %zu at a time\n", todo_.size(), workers);
  return workers;
}

// Every status change of a run goes through here, from this process's threads or (under
// mpirun) from the other ranks: the manifest says it at once.
void sweep_driver::record(std::size_t index, const nlohmann::json& change, int rank) {
  manifest_.update([&](nlohmann::json& j) {
    const auto& run = j["runs"][index];
    const std::string name =
        paper::run_name(run.value("setting", ""), run.value("init", ""), run.value("seed", o_.seed), several_seeds_);
    sweep::apply_change(j, index, change);
    const std::string status = change.value("status", "");
    if (status == "running") running_.insert(name);
    if (status == "finished" || status == "diverged" || status == "failed") running_.erase(name);
    if (status == "failed") {
      const std::string error = change.value("error", "");
      if (!first_error_) first_error_ = std::make_exception_ptr(std::runtime_error(error));
      if (mpi_) {
        failures_[index] = name + " (rank " + std::to_string(rank) + "): " + error;
        std::fprintf(stderr, "paper: %s failed on rank %d: %s\n", name.c_str(), rank, error.c_str());
      }
    }
  });
}

// Trains the runs `next` gives until there are none (or a signal, or in one process a failure).
void sweep_driver::train_runs(const sweep::context& c,
                              const std::function<std::optional<sweep::planned_run>()>& next) {
  {
    std::lock_guard<std::mutex> hold(active_mutex_);
    ++active_;
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
  } on_exit{active_mutex_, active_cv_, active_};
  const nlohmann::json here =
      mpi_ ? nlohmann::json{{"rank", 0}, {"host", sweep_mpi::host(*mpi_)}} : nlohmann::json::object();
  while (!failed_ && !stop_) {
    const auto t = next();
    if (!t) break;
    std::string error;
    const auto r =
        sweep::train_run(c, *t, [&](const nlohmann::json& change) { record(t->index, change, 0); }, here, error);
    if (r == sweep::outcome::interrupted) return;
    if (r == sweep::outcome::failed && !mpi_) failed_ = true;  // no new run starts; those under way finish
  }
}

// Under mpirun: rank 0 hands the runs out and trains some itself.
void sweep_driver::train_on_ranks(const sweep::context& c) {
  sweep_mpi::rank0_plan p;
  p.header = {{"out", fs::absolute(out_dir_).string()}, {"token", mpi_token_}};
  p.todo = todo_;
  p.train_locally = [&](const std::function<std::optional<sweep::planned_run>()>& next) { train_runs(c, next); };
  p.remote_change = [&](std::size_t index, const nlohmann::json& change, int rank) { record(index, change, rank); };
  // A signal that reached another rank alone (a kill of one process) stops the whole sweep,
  // as if rank 0 had got it too; when every rank got it, rank 0 is stopping already.
  p.remote_signal = [&](int rank, int signo) {
    if (stop_.exchange(true)) return;
    std::fprintf(stderr, "paper: rank %d was interrupted by %s; stopping the sweep\n", rank,
                 interrupt::signal_name(signo));
    watcher_.deliver(signo);
  };
  p.stop = &stop_;
  p.remote_done = &remote_done_;
  const auto problems = sweep_mpi::run_on_ranks(*mpi_, p);
  sweep_mpi::finalize(*mpi_);  // the other ranks end now, not after the report
  if (problems.empty()) return;
  std::string text;
  for (const auto& q : problems) text += (text.empty() ? "" : "; ") + q;
  manifest_.update([&](nlohmann::json& j) {
    j["status"] = "failed";
    j["error"] = text;
  });
  throw std::runtime_error("the sweep did not start: " + text);
}

// In this process: `workers` threads take the runs in sweep order.
void sweep_driver::train_here(const sweep::context& c, std::size_t workers) {
  std::atomic<std::size_t> next{0};
  auto take = [&]() -> std::optional<sweep::planned_run> {
    const std::size_t k = next++;
    if (k >= todo_.size()) return std::nullopt;
    return todo_[k];
  };
  auto work = [&] { train_runs(c, take); };
  std::vector<std::thread> pool;
  for (std::size_t w = 1; w < workers; ++w) pool.emplace_back(work);
  work();
  for (auto& th : pool) th.join();
}

void sweep_driver::rethrow_failures() const {
  if (!failures_.empty()) {
    std::string text;
    for (const auto& [index, f] : failures_) text += (text.empty() ? "" : "; ") + f;
    throw std::runtime_error(std::to_string(failures_.size()) + " of " + std::to_string(todo_.size()) +
                             " runs failed (the others finished; --resume trains the failed ones again): " + text);
  }
  if (first_error_) std::rethrow_exception(first_error_);
}

// The manifest's last word, the report (report.py), and where everything is.
int sweep_driver::finish(std::chrono::steady_clock::time_point t0) {
  int diverged = 0;
  manifest_.update([&](nlohmann::json& j) {
    for (const auto& r : j["runs"]) diverged += r["status"] == "diverged";
    j["status"] = "finished";
    j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    j["diverged_runs"] = diverged;
  });

  if (!o_.no_report) {
    const std::string python = fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
    const std::vector<std::string> call{python, RHONET_PAPER_REPORT_SCRIPT, fs::absolute(out_dir_).string()};
    const spawn::outcome r = spawn::run(call, &report_child_);
    const bool written = r.ok() && fs::exists(out_dir_ / "REPORT.md");
    manifest_.update([&](nlohmann::json& j) { j["report"] = written ? "written" : "failed"; });
    if (!written)
      throw std::runtime_error("the report step failed: " + spawn::shown(call) + " " +
                               (r.ok() ? "wrote no REPORT.md" : r.describe()) + "; the runs are complete in " +
                               out_dir_.string());
  }
  std::printf("\nresults: %s\n", fs::absolute(out_dir_).c_str());
  if (!o_.no_report) {
    std::printf("report:  %s\n", fs::absolute(out_dir_ / "REPORT.md").c_str());
    std::printf("figures: %s\n", fs::absolute(out_dir_ / "figures").c_str());
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
    return sweep_driver(o, mpi.get()).run(argc, argv);
  } catch (const std::exception& e) {
    if (rank0)
      std::fprintf(stderr, "paper: %s\n", e.what());
    else
      std::fprintf(stderr, "paper (rank %d): %s\n", sweep_mpi::rank(*mpi), e.what());
    if (mpi) sweep_mpi::end_after_error(*mpi);
    return 1;
  }
}
