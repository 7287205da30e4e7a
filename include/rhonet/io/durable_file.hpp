// Durable writes, shared by checkpoints, run summaries and manifests: a file is written and
// fsynced before anything points at it, and a file a user may already have is replaced only
// by a rename, so a crash leaves either the old or the new version, never a partial one.
#pragma once

#include <cerrno>
#include <charconv>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <string_view>
#include <system_error>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

namespace rhonet {

namespace detail {
[[noreturn]] inline void io_failure(int err, const char* what, const std::filesystem::path& p) {
  throw std::system_error(err, std::generic_category(), std::string("rhonet: ") + what + " " + p.string());
}
}  // namespace detail

// Writes the pieces, in order, to `path` (created or truncated) and fsyncs it.
inline void write_file_synced(const std::filesystem::path& path,
                              std::initializer_list<std::string_view> pieces) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) detail::io_failure(errno, "creating", path);
  for (std::string_view piece : pieces) {
    const char* p = piece.data();
    std::size_t n = piece.size();
    while (n > 0) {
      const ssize_t w = ::write(fd, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        const int e = errno;
        ::close(fd);
        detail::io_failure(e, "writing", path);
      }
      p += w;
      n -= std::size_t(w);
    }
  }
  if (::fsync(fd) != 0) {
    const int e = errno;
    ::close(fd);
    detail::io_failure(e, "syncing", path);
  }
  if (::close(fd) != 0) detail::io_failure(errno, "closing", path);
}

// fsync of a file or a folder (a folder, so that a rename inside it is durable).
inline void fsync_path(const std::filesystem::path& path, bool directory) {
  const int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) detail::io_failure(errno, "opening", path);
  const int r = ::fsync(fd);
  const int e = errno;
  ::close(fd);
  if (r != 0) detail::io_failure(e, "syncing", path);
}

// True if `digits` (what follows ".tmp-" or ".old-" in a leftover's name) is the pid of a
// process that no longer runs, or of this one: a writer that can no longer finish its rename.
inline bool written_by_dead_process(std::string_view digits) {
  long pid = 0;
  const auto [ptr, err] = std::from_chars(digits.data(), digits.data() + digits.size(), pid);
  if (err != std::errc() || ptr != digits.data() + digits.size() || pid <= 0) return false;
  return pid == long(::getpid()) || (::kill(pid_t(pid), 0) != 0 && errno == ESRCH);
}

// Removes the temporary files `<path>.tmp-<pid>` that write_file_atomically calls killed
// before their rename left beside `path` (SIGKILL, power loss), when their writer no longer
// runs; `path` itself is untouched. write_file_atomically calls it, so whoever writes a file
// next tidies up after a killed writer of it. Returns how many it removed.
inline std::size_t remove_stale_temporaries(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  const std::string prefix = path.filename().string() + ".tmp-";
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::error_code ec;
  std::size_t removed = 0;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::error_code ignored;
    if (name.size() > prefix.size() && name.compare(0, prefix.size(), prefix) == 0 &&
        written_by_dead_process(std::string_view(name).substr(prefix.size())) && it->is_regular_file(ignored) &&
        fs::remove(it->path(), ignored))
      ++removed;
  }
  return removed;
}

// Replaces `path` with `text` atomically: a synced sibling temporary file, then a rename.
// On any failure the temporary file is removed and `path` is as it was. A killed earlier
// writer's temporary file of `path` goes first (remove_stale_temporaries).
inline void write_file_atomically(const std::filesystem::path& path, std::string_view text) {
  remove_stale_temporaries(path);
  const std::filesystem::path tmp = path.string() + ".tmp-" + std::to_string(::getpid());
  try {
    write_file_synced(tmp, {text});
    std::filesystem::rename(tmp, path);
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw;
  }
}

}  // namespace rhonet
