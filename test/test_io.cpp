// Writing run folders safely: the folder lock (one writer per folder, the holder's pid in the
// second writer's error, no stale lock after a kill), the checked append-only file (a failing
// write throws at that line, naming the path and the OS error) and the atomic write (no
// temporary file left behind on any failure, and a killed writer's removed by the next).
#define BOOST_TEST_MODULE rhonet_io
#include <boost/test/unit_test.hpp>

#include <csignal>
#include <filesystem>
#include <string>
#include <system_error>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rhonet/io/checked_file.hpp>
#include <rhonet/io/durable_file.hpp>
#include <rhonet/io/folder_lock.hpp>

#include "support/reliability_support.hpp"

namespace fs = std::filesystem;
using rhonet_test::read_text;
using rhonet_test::write_text;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Files in `dir` whose name holds ".tmp-".
int temporaries(const fs::path& dir) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += contains(e.path().filename().string(), ".tmp-");
  return n;
}

// Limits the size of files this process writes (writes beyond fail with EFBIG, as on a full
// disk); SIGXFSZ is ignored meanwhile so that the failure is an error, not a signal.
struct file_size_limit {
  rlimit old{};
  void (*old_handler)(int);
  explicit file_size_limit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &old);
    old_handler = std::signal(SIGXFSZ, SIG_IGN);
    rlimit r = old;
    r.rlim_cur = bytes;
    BOOST_REQUIRE(::setrlimit(RLIMIT_FSIZE, &r) == 0);
  }
  ~file_size_limit() {
    ::setrlimit(RLIMIT_FSIZE, &old);
    std::signal(SIGXFSZ, old_handler);
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(folder_lock)

BOOST_AUTO_TEST_CASE(creates_the_folder_and_records_the_holder) {
  rhonet_test::scratch dir("lock");
  const fs::path run = dir.path / "a" / "run";
  rhonet::folder_lock lock(run, "paper");
  BOOST_TEST(lock.locked());
  BOOST_TEST(fs::is_directory(run));
  BOOST_TEST(read_text(run / ".lock") == std::to_string(::getpid()) + " paper\n");
}

BOOST_AUTO_TEST_CASE(a_second_writer_is_refused_with_the_holders_pid) {
  rhonet_test::scratch dir("lock");
  rhonet::folder_lock first(dir.path, "paper");
  try {
    rhonet::folder_lock second(dir.path, "train_binary");
    BOOST_ERROR("the second lock was granted");
  } catch (const rhonet::folder_in_use& e) {
    BOOST_TEST(e.holder_pid() == long(::getpid()));
    BOOST_TEST(e.folder() == dir.path);
    const std::string what = e.what();
    BOOST_TEST(contains(what, dir.path.string() + " is in use by another run (pid " + std::to_string(::getpid()) +
                                  ", paper)"), what);
  }
  // The refused attempt did not disturb the holder's record.
  BOOST_TEST(read_text(dir.path / ".lock") == std::to_string(::getpid()) + " paper\n");
  first.unlock();
  rhonet::folder_lock third(dir.path, "again");  // free once released
  BOOST_TEST(third.locked());
}

BOOST_AUTO_TEST_CASE(moved_lock_stays_held) {
  rhonet_test::scratch dir("lock");
  rhonet::folder_lock a(dir.path);
  rhonet::folder_lock b = std::move(a);
  BOOST_TEST(!a.locked());
  BOOST_TEST(b.locked());
  BOOST_CHECK_THROW(rhonet::folder_lock(dir.path), rhonet::folder_in_use);
}

// Another process holds the lock; once it is killed, the lock is free (no stale lock).
BOOST_AUTO_TEST_CASE(held_by_another_process_then_released_by_its_death) {
  rhonet_test::scratch dir("lock");
  int ready[2];
  BOOST_REQUIRE(::pipe(ready) == 0);
  const pid_t child = ::fork();
  BOOST_REQUIRE(child >= 0);
  if (child == 0) {
    ::close(ready[0]);
    try {
      rhonet::folder_lock lock(dir.path, "child");
      const char c = 1;
      [[maybe_unused]] auto w = ::write(ready[1], &c, 1);
      ::pause();
    } catch (...) {
    }
    ::_exit(1);
  }
  ::close(ready[1]);
  char c = 0;
  BOOST_REQUIRE(::read(ready[0], &c, 1) == 1);
  ::close(ready[0]);
  try {
    rhonet::folder_lock lock(dir.path, "parent");
    BOOST_ERROR("the lock held by the child was granted");
  } catch (const rhonet::folder_in_use& e) {
    BOOST_TEST(e.holder_pid() == long(child));
    BOOST_TEST(contains(e.what(), "(pid " + std::to_string(child) + ", child)"), e.what());
  }
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  rhonet::folder_lock lock(dir.path, "parent");
  BOOST_TEST(lock.locked());
}

BOOST_AUTO_TEST_CASE(a_symlinked_lock_file_is_refused) {
  rhonet_test::scratch dir("lock");
  write_text(dir.path / "elsewhere", "keep me\n");
  fs::create_symlink(dir.path / "elsewhere", dir.path / ".lock");
  BOOST_CHECK_THROW(rhonet::folder_lock(dir.path), std::system_error);
  BOOST_TEST(read_text(dir.path / "elsewhere") == "keep me\n");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(checked_file)

BOOST_AUTO_TEST_CASE(writes_lines_truncates_or_appends) {
  rhonet_test::scratch dir("checked");
  const fs::path p = dir.path / "log.csv";
  write_text(p, "old\n");
  rhonet::checked_file f(p, /*append=*/false);
  f.write_line("a,b");
  f.write_line("1,2");
  BOOST_TEST(read_text(p) == "a,b\n1,2\n");  // no user-space buffer: on disk at once
  f.close();
  f.open(p, /*append=*/true);
  f.write_line("3,4");
  f.close();
  BOOST_TEST(read_text(p) == "a,b\n1,2\n3,4\n");
  BOOST_CHECK_THROW(f.write_line("closed"), std::logic_error);
}

BOOST_AUTO_TEST_CASE(cannot_create_names_path_and_error) {
  rhonet_test::scratch dir("checked");
  const fs::path p = dir.path / "missing" / "log.csv";
  BOOST_CHECK_EXCEPTION(rhonet::checked_file(p, false), std::system_error, [&](const std::system_error& e) {
    BOOST_TEST_MESSAGE(e.what());
    return e.code().value() == ENOENT && contains(e.what(), "opening " + p.string()) &&
           contains(e.what(), "No such file or directory");
  });
}

BOOST_AUTO_TEST_CASE(full_disk_fails_at_the_line) {
  rhonet::checked_file f("/dev/full", /*append=*/true);
  BOOST_CHECK_EXCEPTION(f.write_line("epoch,loss"), std::system_error, [](const std::system_error& e) {
    BOOST_TEST_MESSAGE(e.what());
    return e.code().value() == ENOSPC && contains(e.what(), "writing /dev/full") &&
           contains(e.what(), "No space left on device");
  });
}

// A file size limit makes the write that crosses it fail (EFBIG): the lines before it are on
// disk, and the error comes at that line.
BOOST_AUTO_TEST_CASE(size_limit_fails_at_the_crossing_line) {
  rhonet_test::scratch dir("checked");
  const fs::path p = dir.path / "obs.csv";
  rhonet::checked_file f(p, false);
  int written = 0;
  {
    file_size_limit limit(100);
    try {
      for (; written < 100; ++written) f.write_line("0123456789");  // 11 bytes a line
      BOOST_ERROR("no error past the size limit");
    } catch (const std::system_error& e) {
      BOOST_TEST(e.code().value() == EFBIG);
      BOOST_TEST(contains(e.what(), "writing " + p.string()), e.what());
    }
  }
  BOOST_TEST(written == 9);  // 99 bytes fit; the 10th line crosses 100
  BOOST_TEST(read_text(p).substr(0, 99) == [] {
    std::string s;
    for (int i = 0; i < 9; ++i) s += "0123456789\n";
    return s;
  }());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(write_file_atomically)

BOOST_AUTO_TEST_CASE(failed_write_leaves_no_temporary_and_the_old_file) {
  rhonet_test::scratch dir("atomic");
  const fs::path p = dir.path / "summary.json";
  write_text(p, "{\"old\": true}\n");
  {
    file_size_limit limit(64);
    BOOST_CHECK_EXCEPTION(rhonet::write_file_atomically(p, std::string(1000, 'x')), std::system_error,
                          [&](const std::system_error& e) {
                            BOOST_TEST_MESSAGE(e.what());
                            return e.code().value() == EFBIG && contains(e.what(), p.string() + ".tmp-");
                          });
  }
  BOOST_TEST(temporaries(dir.path) == 0);
  BOOST_TEST(read_text(p) == "{\"old\": true}\n");
}

BOOST_AUTO_TEST_CASE(failed_rename_leaves_no_temporary) {
  rhonet_test::scratch dir("atomic");
  const fs::path p = dir.path / "manifest.json";
  fs::create_directories(p / "in-the-way");  // a non-empty folder where the file should go
  BOOST_CHECK_THROW(rhonet::write_file_atomically(p, "{}\n"), fs::filesystem_error);
  BOOST_TEST(temporaries(dir.path) == 0);
  BOOST_TEST(fs::is_directory(p / "in-the-way"));
}

// A writer killed between its temporary file and the rename (SIGKILL, power loss) leaves
// <file>.tmp-<pid>; the next atomic write of the file removes it, but never one whose writer
// runs.
BOOST_AUTO_TEST_CASE(stale_temporaries_of_dead_writers_are_removed) {
  rhonet_test::scratch dir("atomic");
  const fs::path p = dir.path / "summary.json";
  const pid_t dead = ::fork();
  BOOST_REQUIRE(dead >= 0);
  if (dead == 0) ::_exit(0);
  int status = 0;
  BOOST_REQUIRE(::waitpid(dead, &status, 0) == dead);  // reaped: its pid names no process now
  const pid_t alive = ::getppid();
  write_text(p, "{}\n");
  write_text(dir.path / ("summary.json.tmp-" + std::to_string(dead)), "{\"cut");
  write_text(dir.path / ("summary.json.tmp-" + std::to_string(alive)), "{\"being written");
  write_text(dir.path / "summary.json.tmp-x1", "not a pid");
  write_text(dir.path / ("other.json.tmp-" + std::to_string(dead)), "another file's");
  BOOST_TEST(rhonet::remove_stale_temporaries(p) == 1u);
  BOOST_TEST(!fs::exists(dir.path / ("summary.json.tmp-" + std::to_string(dead))));
  BOOST_TEST(fs::exists(dir.path / ("summary.json.tmp-" + std::to_string(alive))));
  BOOST_TEST(fs::exists(dir.path / "summary.json.tmp-x1"));
  BOOST_TEST(fs::exists(dir.path / ("other.json.tmp-" + std::to_string(dead))));
  BOOST_TEST(read_text(p) == "{}\n");
  BOOST_TEST(rhonet::remove_stale_temporaries(dir.path / "missing" / "a.json") == 0u);  // no folder: nothing
  // The next atomic write of a file does it: another dead writer's leftover goes, the live one stays.
  write_text(dir.path / ("summary.json.tmp-" + std::to_string(dead)), "{\"cut");
  rhonet::write_file_atomically(p, "{\"new\": 1}\n");
  BOOST_TEST(!fs::exists(dir.path / ("summary.json.tmp-" + std::to_string(dead))));
  BOOST_TEST(fs::exists(dir.path / ("summary.json.tmp-" + std::to_string(alive))));
  BOOST_TEST(read_text(p) == "{\"new\": 1}\n");
}

BOOST_AUTO_TEST_CASE(success_replaces_and_leaves_no_temporary) {
  rhonet_test::scratch dir("atomic");
  const fs::path p = dir.path / "a.json";
  rhonet::write_file_atomically(p, "1\n");
  rhonet::write_file_atomically(p, "2\n");
  BOOST_TEST(read_text(p) == "2\n");
  BOOST_TEST(temporaries(dir.path) == 0);
}

BOOST_AUTO_TEST_SUITE_END()
