// A sweep over the ranks of mpirun (sweep_mpi.hpp): the sweep's glue around
// rhonet::mpi::work_queue.
#include "sweep_mpi.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <rhonet/core/threads.hpp>
#include <rhonet/mpi/launch.hpp>
#include <rhonet/mpi/work_queue.hpp>

#include "common/interrupt.hpp"

namespace fs = std::filesystem;

namespace sweep_mpi {

class session {
 public:
  session(int& argc, char**& argv) : env(argc, argv) {}
  rhonet::mpi::environment env;
  bool started = false;    // rank 0 sent the other ranks the sweep's header
  bool finalized = false;
};

void session_end::operator()(session* s) const { delete s; }

bool launched_by_mpirun() { return rhonet::mpi::launched_by_mpirun(); }

session_ptr start_if_launched(int& argc, char**& argv) {
  if (!rhonet::mpi::launched_by_mpirun()) return nullptr;
  return session_ptr(new session(argc, argv));
}

int rank(const session& s) { return s.env.rank(); }
int ranks(const session& s) { return s.env.size(); }
std::string host(const session& s) { return s.env.host(); }
void finalize(session& s) {
  s.env.finalize();
  s.finalized = true;
}

void end_after_error(session& s) {
  if (s.finalized) return;
  if (s.env.rank() == 0 && !s.started) {
    rhonet::mpi::work_queue queue(s.env.world(), {});
    queue.abandon();
    return;
  }
  std::fflush(nullptr);
  MPI_Abort(s.env.world(), 1);
}

namespace {

// How long a rank other than 0 waits, after a signal stopped its run, for rank 0 to end the
// job (rank 0 needs its own run's step and checkpoint, then at most half a second).
constexpr std::chrono::seconds rank0_grace{30};

// Whether this rank sees the folder rank 0 writes: its manifest carries rank 0's token. On
// several hosts the folder must be on a shared file system under the same path; a new file
// may take a moment to appear there, hence the retries.
std::string check_shared_folder(const fs::path& out, const std::string& token) {
  std::string seen = "no manifest.json";
  for (int attempt = 0; attempt < 50; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    std::ifstream in(out / "manifest.json");
    if (!in) continue;
    const auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("mpi") && j["mpi"].value("token", "") == token) return {};
    seen = "a manifest.json of another sweep";
  }
  return "it does not see the output folder " + out.string() + " that rank 0 writes (found " + seen +
         " there); every rank needs the same folder at the same path, on a shared file system";
}

}  // namespace

int serve_as_worker(session& s, const paper_cli::options& o) {
  rhonet::mpi::work_client client(s.env.world());
  const std::string who = "rank " + std::to_string(s.env.rank()) + " on " + s.env.host();
  const sweep::settings_plan plan = sweep::make_settings(o);
  std::string problem;
  std::shared_ptr<const paper::data> data;
  try {  // while rank 0 loads the same data and prepares the folder
    data = paper::load_data(sweep::data_request_of(o));
  } catch (const std::exception& e) {
    problem = e.what();
  }
  const auto header_text = client.header();
  if (!header_text) return 0;  // rank 0 could not start the sweep; it says why
  const nlohmann::json header = nlohmann::json::parse(*header_text);
  // The folder as the command line gives it when it is rank 0's (the same working folder),
  // so that the paths runs record are those of one process; rank 0's absolute path otherwise.
  const fs::path absolute = header.at("out").get<std::string>();
  const fs::path out = fs::absolute(o.out) == absolute ? fs::path(o.out) : absolute;
  if (problem.empty()) problem = check_shared_folder(absolute, header.at("token").get<std::string>());
  if (!problem.empty()) {
    client.answer(who + ": " + problem);
    return 0;
  }
  rhonet::set_threads(o.threads > 0 ? int(o.threads) : 1);
  client.answer("");

  // A signal stops the run in progress after its step, with a checkpoint; its report, which
  // names the signal, goes to rank 0, and rank 0 stops the whole sweep. Then this rank waits
  // for rank 0 to end the job: while mpirun stops a job it kills every rank the moment one
  // ends, so a rank that ended first would cut rank 0 off before it recorded the
  // interruption. The watcher lives until MPI has finalized, because a rank with no run left
  // waits in MPI_Finalize for rank 0 and must not die of the signal there either.
  std::atomic<bool> stop{false};
  std::atomic<int> signal_number{0};
  std::mutex active_mutex;
  std::condition_variable active_cv;
  bool active = false;
  interrupt::watcher watcher([&](int signo) {
    signal_number = signo;
    stop = true;
    {
      std::unique_lock<std::mutex> hold(active_mutex);
      active_cv.wait(hold, [&] { return !active; });
    }
    std::this_thread::sleep_for(rank0_grace);  // rank 0 ends the job long before this
  });
  auto set_active = [&](bool a) {
    std::lock_guard<std::mutex> hold(active_mutex);
    active = a;
    active_cv.notify_all();
  };

  paper::run_options ro{out, o.seed, /*progress=*/false};
  ro.overrides = plan.override_fields;
  ro.stop = &stop;
  const sweep::context c{plan, *data, ro, o.fallback};
  const nlohmann::json extra = {{"rank", s.env.rank()}, {"host", s.env.host()}};
  while (!stop) {
    const auto t = client.next();
    if (!t) break;
    set_active(true);
    const sweep::planned_run run = sweep::planned_run_from(nlohmann::json::parse(t->text));
    std::string error;
    sweep::train_run(c, run, [&](const nlohmann::json& change) {
      nlohmann::json note{{"index", run.index}, {"change", change}};
      if (change.contains("checkpoint")) note["signal"] = signal_number.load();  // stopped by a signal
      client.send(note.dump());
    }, extra, error);
    set_active(false);
  }
  if (stop) interrupt::wait_for_exit();  // the watcher ends the process
  finalize(s);  // waits for rank 0, with the watcher still in place
  return 0;
}

std::vector<std::string> run_on_ranks(session& s, const rank0_plan& p) {
  std::vector<std::string> tasks;
  for (const auto& t : p.todo) tasks.push_back(sweep::to_json(t).dump());
  rhonet::mpi::work_queue queue(s.env.world(), std::move(tasks));
  s.started = true;
  std::vector<std::string> problems;
  for (const auto& a : queue.start(p.header.dump()))
    if (!a.empty()) problems.push_back(a);
  auto on_message = [&](int rank, const std::string& text) {
    const auto j = nlohmann::json::parse(text);
    p.remote_change(j.at("index").get<std::size_t>(), j.at("change"), rank);
    if (j.contains("signal")) p.remote_signal(rank, j.at("signal").get<int>());
  };
  if (!problems.empty()) {  // start no run: the ranks that are ready learn there is none
    queue.close();
    queue.serve(on_message);
    p.remote_done->store(true);
    return problems;
  }
  std::thread local([&] {
    p.train_locally([&]() -> std::optional<sweep::planned_run> {
      if (p.stop->load()) return std::nullopt;
      const auto t = queue.take();
      if (!t) return std::nullopt;
      return sweep::planned_run_from(nlohmann::json::parse(t->text));
    });
  });
  std::exception_ptr error;
  try {
    queue.serve(on_message, [&] {
      if (p.stop->load()) queue.close();
    });
  } catch (...) {
    error = std::current_exception();
    queue.close();
  }
  p.remote_done->store(true);
  local.join();
  if (error) std::rethrow_exception(error);
  return {};
}

}  // namespace sweep_mpi
