// rhonet::mpi::work_queue under mpirun (-np 3 in ctest): every task is handed out exactly
// once over rank 0's own thread and the other ranks; the ranks' messages reach rank 0 intact
// (long ones too, past MPI's eager size) and before their next request; a rank that answers
// the header with a problem takes no task and rank 0 learns it; abandon() ends the ranks.
// A plain program (exit 0 or 1, rank 0 prints the failures): Boost.Test would run per rank.
#include <rhonet/mpi/launch.hpp>
#include <rhonet/mpi/work_queue.hpp>

#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/mpi_checks.hpp"

namespace {

using mpi_checks::check;

std::string long_text(std::size_t index) { return "error of task " + std::to_string(index) + ": " + std::string(200000, 'x'); }

// Phase 1: 25 tasks over every rank, rank 0 included; each other rank's message about its
// first task is long (200 KB).
void hand_out_tasks(rhonet::mpi::environment& env) {
  constexpr std::size_t n = 25;
  if (env.rank() == 0) {
    std::vector<std::string> tasks;
    for (std::size_t i = 0; i < n; ++i) tasks.push_back("task-" + std::to_string(i));
    rhonet::mpi::work_queue queue(env.world(), tasks);
    const auto answers = queue.start("header-1");
    for (std::size_t r = 0; r < answers.size(); ++r) check(answers[r].empty(), "rank " + std::to_string(r) + " not ready");
    std::map<std::size_t, int> done_by;  // task -> rank, from the messages
    std::map<int, std::size_t> last_started;
    int long_messages = 0;  // each other rank sends one, about its first task
    std::vector<std::size_t> local_tasks;
    std::thread local([&] {
      while (auto t = queue.take()) {
        local_tasks.push_back(t->index);  // checked after join
        std::this_thread::sleep_for(std::chrono::milliseconds(3));
      }
    });
    queue.serve([&](int rank, const std::string& text) {
      if (text.rfind("start ", 0) == 0) {
        last_started[rank] = std::stoul(text.substr(6));
        return;
      }
      const std::size_t cut = text.find(' ');
      const std::size_t index = std::stoul(text.substr(0, cut));
      check(last_started.count(rank) && last_started[rank] == index, "messages of a task out of order");
      check(!done_by.count(index), "task " + std::to_string(index) + " done twice");
      done_by[index] = rank;
      const std::string body = text.substr(cut + 1);
      if (body.size() > 1000) {
        ++long_messages;
        check(body == long_text(index), "the long message of task " + std::to_string(index) + " arrived changed");
      } else {
        check(body == "done task-" + std::to_string(index), "message of task " + std::to_string(index));
      }
    });
    local.join();
    for (std::size_t i : local_tasks) {
      check(!done_by.count(i), "task " + std::to_string(i) + " handed out twice");
      done_by[i] = 0;
    }
    check(done_by.size() == n && done_by.rbegin()->first == n - 1, "tasks lost");
    std::set<int> ranks;
    for (const auto& [task, rank] : done_by) ranks.insert(rank);
    check(ranks.size() == std::size_t(env.size()), "not every rank (rank 0's thread included) took a task");
    check(long_messages == env.size() - 1, "long messages: " + std::to_string(long_messages));
  } else {
    rhonet::mpi::work_client client(env.world());
    const auto header = client.header();
    check(header && *header == "header-1", "header of phase 1");
    client.answer("");
    bool first = true;
    while (auto t = client.next()) {
      check(t->text == "task-" + std::to_string(t->index), "got task text " + t->text);
      client.send("start " + std::to_string(t->index));
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      client.send(std::to_string(t->index) + " " + (first ? long_text(t->index) : "done " + t->text));
      first = false;
    }
  }
}

// Phase 2: the last rank answers with a problem; rank 0 closes the queue and serves the rest.
void a_rank_with_a_problem(rhonet::mpi::environment& env) {
  const int last = env.size() - 1;
  if (env.rank() == 0) {
    rhonet::mpi::work_queue queue(env.world(), {"a", "b"});
    const auto answers = queue.start("header-2");
    check(answers[std::size_t(last)] == "rank " + std::to_string(last) + " cannot see the folder",
          "the problem of the last rank: '" + answers[std::size_t(last)] + "'");
    queue.close();
    check(!queue.take(), "a closed queue handed out a task");
    queue.serve([&](int, const std::string&) { check(false, "a message after close"); });
  } else {
    rhonet::mpi::work_client client(env.world());
    check(client.header() == std::optional<std::string>("header-2"), "header of phase 2");
    if (env.rank() == last) {
      client.answer("rank " + std::to_string(last) + " cannot see the folder");
      return;
    }
    client.answer("");
    check(!client.next(), "a task from a closed queue");
  }
}

// Phase 3: rank 0 abandons.
void abandoned(rhonet::mpi::environment& env) {
  if (env.rank() == 0) {
    rhonet::mpi::work_queue queue(env.world(), {"a"});
    queue.abandon();
  } else {
    rhonet::mpi::work_client client(env.world());
    check(!client.header(), "a header after abandon()");
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (!rhonet::mpi::launched_by_mpirun()) {
    std::fprintf(stderr, "run me under mpirun (-np 3)\n");
    return 1;
  }
  rhonet::mpi::environment env(argc, argv);
  if (env.size() < 3) {
    std::fprintf(stderr, "run me with at least 3 ranks\n");
    return 1;
  }
  hand_out_tasks(env);
  MPI_Barrier(env.world());
  a_rank_with_a_problem(env);
  MPI_Barrier(env.world());
  abandoned(env);
  return mpi_checks::finish(env.world(), "work_queue", "work_queue: tasks, messages, problems and abandon as expected");
}
