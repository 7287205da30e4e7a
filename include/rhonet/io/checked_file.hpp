// An append-only text file whose every write is checked where it happens: a write that fails
// (full disk, quota, file size limit, a vanished network mount) throws std::system_error
// naming the path and the OS error at that line, not at the end of a long run. There is no
// user-space buffer: each write_line is handed to the kernel at once, so what a crash leaves
// on disk is every line written before it (the last one possibly cut short).
#pragma once

#include <cerrno>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

#include <rhonet/io/durable_file.hpp>

namespace rhonet {

class checked_file {
 public:
  checked_file() = default;
  checked_file(const std::filesystem::path& path, bool append) { open(path, append); }
  checked_file(checked_file&& o) noexcept : fd_(std::exchange(o.fd_, -1)), path_(std::move(o.path_)) {}
  checked_file& operator=(checked_file&& o) noexcept {
    if (this != &o) {
      discard();
      fd_ = std::exchange(o.fd_, -1);
      path_ = std::move(o.path_);
    }
    return *this;
  }
  checked_file(const checked_file&) = delete;
  checked_file& operator=(const checked_file&) = delete;
  // Closes without checking: call close() to learn about a failure.
  ~checked_file() { discard(); }

  // Creates the file if missing; truncates it unless `append`.
  void open(const std::filesystem::path& path, bool append) {
    close();
    path_ = path;
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (append ? 0 : O_TRUNC), 0644);
    if (fd_ < 0) detail::io_failure(errno, "opening", path);
  }

  // Writes `line` and a newline.
  void write_line(std::string_view line) {
    if (fd_ < 0) throw std::logic_error("rhonet::checked_file: write_line on a closed file");
    std::string buf;
    buf.reserve(line.size() + 1);
    buf.append(line);
    buf.push_back('\n');
    const char* p = buf.data();
    std::size_t n = buf.size();
    while (n > 0) {
      const ssize_t w = ::write(fd_, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) detail::io_failure(errno, "writing", path_);
      if (w == 0) detail::io_failure(EIO, "writing", path_);
      p += w;
      n -= static_cast<std::size_t>(w);
    }
  }

  // Closes the file, checking the result (some file systems report write errors only here).
  void close() {
    if (fd_ < 0) return;
    const int fd = std::exchange(fd_, -1);
    if (::close(fd) != 0) detail::io_failure(errno, "closing", path_);
  }

  bool is_open() const noexcept { return fd_ >= 0; }
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  void discard() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  int fd_ = -1;
  std::filesystem::path path_;
};

}  // namespace rhonet
