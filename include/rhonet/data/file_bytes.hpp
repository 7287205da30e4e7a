// The bytes of a data file, read safely: only regular files (a FIFO would block, a device
// would never end), gunzipped when the content starts with the gzip magic 1f 8b (not by the
// file name: renamed or re-compressed downloads are common), and never inflated beyond a
// bound (a small .gz can inflate to gigabytes). Errors are rhonet::data_error naming the file
// and the byte offset; offsets into gzip content are offsets into the decompressed bytes.
// The IDX and CIFAR-10 readers build on it.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <rhonet/core/error.hpp>

namespace rhonet {

// The whole content of a file, gunzipped when it starts with the gzip magic.
struct file_bytes {
  std::vector<std::uint8_t> bytes;
  bool gzip = false;     // true: `bytes` is the decompressed content
  bool stopped = false;  // decompression stopped at the bound: more content follows `bytes`
};

// No file's content is read or decompressed beyond this size (1 GiB; Fashion-MNIST's largest
// file is 47 MB decompressed, CIFAR-10's 31 MB).
inline constexpr std::size_t max_decompressed_bytes = std::size_t{1} << 30;

// How much content a format allows: at most `max` bytes, and, when `from_content` is given,
// at most what it returns once it has seen enough of the content (0: needs more bytes).
struct content_bound {
  std::size_t max = max_decompressed_bytes;
  std::size_t (*from_content)(const std::uint8_t* data, std::size_t size) = nullptr;
};

namespace detail {

// Releases the zlib stream on every exit path, including exceptions.
struct inflate_guard {
  z_stream* zs;
  ~inflate_guard() { inflateEnd(zs); }
};

// Gunzips `in`, accepting concatenated gzip members (as gzip(1) does) but nothing else after
// the last member. Stops once the content exceeds `bound`, keeping exactly the bound's number
// of bytes and setting `stopped` (the parsers then say what the content should have been).
inline std::vector<std::uint8_t> gunzip(const std::vector<std::uint8_t>& in, const std::string& name,
                                        const content_bound& bound, bool& stopped) {
  stopped = false;
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) throw std::bad_alloc();  // 15 + 16: gzip wrapper
  inflate_guard guard{&zs};

  // zlib counts in 32-bit uInt, so large buffers go through in chunks.
  constexpr std::size_t max_chunk = std::size_t{1} << 30;
  std::size_t limit = bound.max;  // lowered once the content states its size
  bool limit_known = bound.from_content == nullptr;
  // The gzip trailer stores the size mod 2^32: a good guess for the output buffer, but an
  // unchecked one (a damaged file may claim gigabytes), so the buffer starts at no more than
  // 64 KiB and grows to the guess only once the stream has produced that much. One byte more
  // than the limit is room enough to learn that the content goes beyond it.
  std::size_t guess = in.size() * 4;
  if (in.size() >= 18) {
    const std::size_t n = in.size();
    guess = std::size_t{in[n - 4]} | std::size_t{in[n - 3]} << 8 | std::size_t{in[n - 2]} << 16 |
            std::size_t{in[n - 1]} << 24;
  }
  guess = std::clamp<std::size_t>(guess, 4096, in.size() * 1100 + 4096);  // deflate's ratio is < 1032
  std::vector<std::uint8_t> out(std::min({guess, std::size_t{1} << 16, limit + 1}));
  std::size_t used = 0, consumed = 0;
  for (;;) {
    if (used == out.size()) out.resize(std::min(std::max(out.size() * 2, guess), limit + 1));
    const std::size_t in_chunk = std::min(in.size() - consumed, max_chunk);
    const std::size_t out_chunk = std::min(out.size() - used, max_chunk);
    zs.next_in = const_cast<Bytef*>(in.data() + consumed);  // zlib never writes through it
    zs.avail_in = static_cast<uInt>(in_chunk);
    zs.next_out = out.data() + used;
    zs.avail_out = static_cast<uInt>(out_chunk);
    const int rc = inflate(&zs, Z_NO_FLUSH);
    consumed += in_chunk - zs.avail_in;
    used += out_chunk - zs.avail_out;

    if (!limit_known) {
      if (const std::size_t implied = bound.from_content(out.data(), used); implied != 0) {
        limit = std::min(limit, implied);
        limit_known = true;
      }
    }
    if (used > limit) {  // more content than allowed: keep the allowed part only
      stopped = true;
      used = limit;
      break;
    }
    if (rc == Z_STREAM_END) {
      if (consumed == in.size()) break;
      if (in.size() - consumed >= 2 && in[consumed] == 0x1f && in[consumed + 1] == 0x8b) {
        inflateReset(&zs);
        continue;
      }
      throw data_error(name, consumed, "end of file after the gzip stream",
                       std::to_string(in.size() - consumed) + " trailing bytes", "compressed");
    }
    if (rc == Z_MEM_ERROR) throw std::bad_alloc();
    if (rc != Z_OK && rc != Z_BUF_ERROR)
      throw data_error(name, consumed, "a valid gzip stream",
                       zs.msg != nullptr ? std::string(zs.msg)
                                         : "corrupt data (zlib error " + std::to_string(rc) + ")",
                       "compressed");
    if (consumed == in.size() && zs.avail_out != 0)  // wants more input but there is none
      throw data_error(name, consumed, "the rest of the gzip stream", "end of file", "compressed");
  }
  out.resize(used);
  out.shrink_to_fit();
  return out;
}

}  // namespace detail

// The content of a file already in memory (as read from disk, plain or gzip): gunzipped
// when it starts with the gzip magic, up to `bound`. `name` is the file name used in error
// messages.
inline file_bytes decode_file_bytes(std::vector<std::uint8_t> raw, const std::string& name,
                                    const content_bound& bound = {}) {
  file_bytes f;
  f.bytes = std::move(raw);
  if (f.bytes.size() >= 2 && f.bytes[0] == 0x1f && f.bytes[1] == 0x8b) {
    f.bytes = detail::gunzip(f.bytes, name, bound, f.stopped);
    f.gzip = true;
  }
  return f;
}

namespace detail {

inline const char* file_type_name(const struct stat& st) {
  if (S_ISDIR(st.st_mode)) return "a directory";
  if (S_ISFIFO(st.st_mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(st.st_mode)) return "a character device";
  if (S_ISBLK(st.st_mode)) return "a block device";
  if (S_ISSOCK(st.st_mode)) return "a socket";
  return "not a regular file";
}

// Closes the descriptor on every exit path.
struct fd_guard {
  int fd;
  ~fd_guard() { ::close(fd); }
};

}  // namespace detail

// Reads a regular file (anything else is refused before it is opened for reading: a FIFO
// would block, a device would never end) and decodes it (decode_file_bytes).
inline file_bytes read_file_bytes(const std::filesystem::path& path, const content_bound& bound = {}) {
  const std::string name = path.string();
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) throw data_error(name, 0, "an existing file", "no such file");
    throw data_error(name, 0, "a readable file", std::string("a file that cannot be examined (") +
                                                     std::strerror(errno) + ")");
  }
  if (!S_ISREG(st.st_mode)) throw data_error(name, 0, "a regular file", detail::file_type_name(st));
  // O_NONBLOCK: should the path have been replaced by a FIFO since, open does not wait for a
  // writer; fstat below then refuses it.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) throw data_error(name, 0, "a readable file", "a file that cannot be opened");
  detail::fd_guard guard{fd};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
    throw data_error(name, 0, "a regular file", detail::file_type_name(st));
  const std::size_t size = static_cast<std::size_t>(st.st_size);
  if (size > bound.max)
    throw data_error(name, 0, "a file of at most " + std::to_string(bound.max) + " bytes",
                     std::to_string(size) + " bytes");

  std::vector<std::uint8_t> raw;
  try {
    raw.resize(size);
  } catch (const std::bad_alloc&) {
    throw data_error(name, 0, "a file that fits in memory", std::to_string(size) + " bytes");
  }
  std::size_t got = 0;
  while (got < size) {
    const ssize_t r = ::read(fd, raw.data() + got, size - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw data_error(name, got, std::to_string(size) + " bytes", "a read error");
    if (r == 0) throw data_error(name, got, std::to_string(size) + " bytes", "end of file (the file shrank)");
    got += static_cast<std::size_t>(r);
  }
  try {
    return decode_file_bytes(std::move(raw), name, bound);
  } catch (const std::bad_alloc&) {
    throw data_error(name, 0, "decompressed content that fits in memory", "not enough memory", "decompressed");
  }
}

}  // namespace rhonet
