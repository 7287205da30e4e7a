// An exclusive lock on a folder that a run writes into (its output folder, a checkpoint
// folder), so that two processes never write into one folder at the same time. It is a
// flock(2) on DIR/.lock held for the lifetime of the object; the kernel releases it when the
// process ends, however it ends, so a killed run leaves no stale lock behind. The file holds
// the holder's pid and name, which a second writer's error names. The file is never removed:
// removing it while another process waits would let two processes lock two different files
// of the same name.
#pragma once

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace rhonet {

// Another process holds the lock of `folder()`.
class folder_in_use : public std::runtime_error {
 public:
  folder_in_use(std::filesystem::path folder, long pid, const std::string& holder)
      : std::runtime_error(format(folder, pid, holder)), folder_(std::move(folder)), pid_(pid) {}
  const std::filesystem::path& folder() const noexcept { return folder_; }
  long holder_pid() const noexcept { return pid_; }  // 0 if the holder has not written it yet

 private:
  static std::string format(const std::filesystem::path& folder, long pid, const std::string& holder) {
    std::string who = pid > 0 ? "pid " + std::to_string(pid) : std::string("pid not recorded yet");
    if (!holder.empty()) who += ", " + holder;
    return folder.string() + " is in use by another run (" + who +
           "); wait for it to end or choose another folder";
  }
  std::filesystem::path folder_;
  long pid_;
};

class folder_lock {
 public:
  static constexpr const char* file_name = ".lock";

  folder_lock() = default;
  // Creates `dir` if needed and locks it, or throws folder_in_use at once (it never waits).
  // `holder` (e.g. the program's name) is recorded for the message a second writer gets.
  explicit folder_lock(const std::filesystem::path& dir, std::string_view holder = {}) : dir_(dir) {
    std::filesystem::create_directories(dir);
    const std::filesystem::path file = dir / file_name;
    fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd_ < 0) fail(errno, "opening the lock file", file);
    int r;
    while ((r = ::flock(fd_, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR) {
    }
    if (r != 0) {
      const int e = errno;
      if (e != EWOULDBLOCK) fail(e, "locking", file);
      const auto [pid, name] = read_holder();
      ::close(fd_);
      fd_ = -1;
      throw folder_in_use(dir, pid, name);
    }
    // Ours now: record who we are (a failure here is an I/O error, reported as such).
    std::string text = std::to_string(::getpid());
    if (!holder.empty()) text += " " + std::string(holder);
    text += "\n";
    if (::ftruncate(fd_, 0) != 0) fail(errno, "writing the lock file", file);
    if (::pwrite(fd_, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()))
      fail(errno, "writing the lock file", file);
  }

  folder_lock(folder_lock&& o) noexcept : fd_(std::exchange(o.fd_, -1)), dir_(std::move(o.dir_)) {}
  folder_lock& operator=(folder_lock&& o) noexcept {
    if (this != &o) {
      unlock();
      fd_ = std::exchange(o.fd_, -1);
      dir_ = std::move(o.dir_);
    }
    return *this;
  }
  folder_lock(const folder_lock&) = delete;
  folder_lock& operator=(const folder_lock&) = delete;
  ~folder_lock() { unlock(); }

  bool locked() const noexcept { return fd_ >= 0; }
  const std::filesystem::path& folder() const noexcept { return dir_; }

  // Releases the lock (closing the file releases the flock).
  void unlock() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  [[noreturn]] void fail(int err, const char* what, const std::filesystem::path& p) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    throw std::system_error(err, std::generic_category(), std::string("rhonet: ") + what + " " + p.string());
  }

  // "pid name" as the holder wrote it; {0, ""} if it has not written it yet.
  std::pair<long, std::string> read_holder() const {
    char buf[256];
    const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    if (n <= 0) return {0, {}};
    std::string text(buf, static_cast<std::size_t>(n));
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    const std::size_t space = text.find(' ');
    long pid = 0;
    for (std::size_t i = 0; i < std::min(space, text.size()) && i < 12; ++i) {
      if (text[i] < '0' || text[i] > '9') return {0, {}};
      pid = pid * 10 + (text[i] - '0');
    }
    return {pid, space == std::string::npos ? std::string() : text.substr(space + 1)};
  }

  int fd_ = -1;
  std::filesystem::path dir_;
};

}  // namespace rhonet
