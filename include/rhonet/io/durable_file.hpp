// Durable writes, shared by checkpoints, run summaries and manifests: a file is written and
// fsynced before anything points at it, and a file a user may already have is replaced only
// by a rename, so a crash leaves either the old or the new version, never a partial one.
#pragma once

#include <cerrno>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <string_view>
#include <system_error>

#include <fcntl.h>
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

// Replaces `path` with `text` atomically: a synced sibling temporary file, then a rename.
// On any failure the temporary file is removed and `path` is as it was.
inline void write_file_atomically(const std::filesystem::path& path, std::string_view text) {
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
