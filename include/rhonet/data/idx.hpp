// Readers for IDX files (MNIST, Fashion-MNIST), plain or gzip-compressed. Gzip is detected by
// its magic bytes 1f 8b, not by the file name, because renamed or re-compressed downloads are
// common. Every malformed input raises rhonet::data_error naming the file and byte offset;
// offsets into a gzip file's content are offsets into the decompressed bytes and the message
// says "decompressed", while errors in the gzip stream itself give compressed offsets.
// Only regular files are read (a FIFO or a device would block or never end), and the
// decompressed size is bounded (a small .gz can inflate to gigabytes): by the size an IDX
// header states, and never beyond max_decompressed_bytes.
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

struct idx_images {
  std::size_t count = 0, rows = 0, cols = 0;
  std::vector<std::uint8_t> pixels;  // count * rows * cols, image-major, row-major inside
};

inline constexpr std::uint32_t idx_images_magic = 2051;  // 0x00000803: ubyte, 3 dimensions
inline constexpr std::uint32_t idx_labels_magic = 2049;  // 0x00000801: ubyte, 1 dimension

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
  // The gzip trailer stores the size mod 2^32: a good first guess for the output buffer. One
  // byte more than the limit is room enough to learn that the content goes beyond it.
  std::size_t guess = in.size() * 4;
  if (in.size() >= 18) {
    const std::size_t n = in.size();
    guess = std::size_t{in[n - 4]} | std::size_t{in[n - 3]} << 8 | std::size_t{in[n - 2]} << 16 |
            std::size_t{in[n - 1]} << 24;
  }
  std::vector<std::uint8_t> out(
      std::min(std::clamp<std::size_t>(guess, 4096, in.size() * 1100 + 4096), limit + 1));
  std::size_t used = 0, consumed = 0;
  for (;;) {
    if (used == out.size()) out.resize(std::min(out.size() * 2, limit + 1));
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

inline std::uint32_t read_be32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 |
         std::uint32_t{p[3]};
}

inline std::string idx_magic_name(std::uint32_t magic) {
  std::string s = std::to_string(magic);
  if (magic == idx_images_magic) s += " (an IDX image file)";
  if (magic == idx_labels_magic) s += " (an IDX label file)";
  if ((magic & 0xffff0000u) == 0x1f8b0000u) s += " (gzip data inside the gzip stream)";
  return s;
}

// Context shown in parentheses: "decompressed" for gzip content, plus an optional record.
inline std::string idx_where(const file_bytes& f, const std::string& record = {}) {
  if (!f.gzip) return record;
  return record.empty() ? std::string("decompressed") : "decompressed, " + record;
}

// Checks the magic and that the header is complete; returns nothing, throws data_error.
inline void check_idx_header(const file_bytes& f, const std::string& name, std::uint32_t magic,
                             std::size_t header_size, const char* kind) {
  const auto& b = f.bytes;
  const std::string expected_magic = "IDX magic " + std::to_string(magic) + " (" + kind + ")";
  if (b.empty())
    throw data_error(name, 0, expected_magic, f.gzip ? "no decompressed data" : "an empty file",
                     idx_where(f));
  if (b.size() < 4)
    throw data_error(name, b.size(), expected_magic,
                     "end of data after " + std::to_string(b.size()) + " bytes", idx_where(f));
  const std::uint32_t found = read_be32(b.data());
  if (found != magic)
    throw data_error(name, 0, expected_magic, idx_magic_name(found), idx_where(f));
  if (b.size() < header_size)
    throw data_error(name, b.size(),
                     "the " + std::to_string(header_size) + "-byte IDX header (" + kind + ")",
                     "end of data after " + std::to_string(b.size()) + " bytes", idx_where(f));
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

namespace detail {

// Decompressed bytes allowed after the size an IDX header states, so that a little trailing
// garbage is still counted exactly in the error message.
inline constexpr std::size_t idx_trailing_slack = 4096;

inline std::size_t saturating_add(std::size_t a, std::size_t b) {
  return a > std::numeric_limits<std::size_t>::max() - b ? std::numeric_limits<std::size_t>::max() : a + b;
}

// The content size an IDX header states (plus the slack), from its first bytes; 0 until the
// header is complete. A file that is not IDX gets room for a header only: its parser reports
// the wrong magic.
inline std::size_t idx_content_size(const std::uint8_t* p, std::size_t n) {
  if (n < 4) return 0;
  const std::uint32_t magic = read_be32(p);
  if (magic == idx_images_magic) {
    if (n < 16) return 0;
    std::size_t total = 0;
    const std::size_t count = read_be32(p + 4), rows = read_be32(p + 8), cols = read_be32(p + 12);
    if (__builtin_mul_overflow(count, rows, &total) || __builtin_mul_overflow(total, cols, &total))
      total = std::numeric_limits<std::size_t>::max();
    return saturating_add(saturating_add(total, 16), idx_trailing_slack);
  }
  if (magic == idx_labels_magic) {
    if (n < 8) return 0;
    return 8 + std::size_t{read_be32(p + 4)} + idx_trailing_slack;
  }
  return 16 + idx_trailing_slack;
}

// What `found` says when decompression stopped at the bound.
inline std::string stopped_note(const file_bytes& f) {
  return f.stopped ? " (and more: decompression stopped there)" : "";
}

}  // namespace detail

// The bound for IDX content: what the header states, at most max_decompressed_bytes.
inline constexpr content_bound idx_content_bound{max_decompressed_bytes, detail::idx_content_size};

// Layout: magic 2051, count, rows, cols (big-endian uint32), then count*rows*cols bytes.
// parse_idx_images takes a file's content already in memory (see decode_file_bytes).
inline idx_images parse_idx_images(file_bytes f, const std::string& name) {
  detail::check_idx_header(f, name, idx_images_magic, 16, "images");
  auto& b = f.bytes;

  idx_images img;
  img.count = detail::read_be32(b.data() + 4);
  img.rows = detail::read_be32(b.data() + 8);
  img.cols = detail::read_be32(b.data() + 12);
  if (img.rows == 0) throw data_error(name, 8, "a positive row count", "0", detail::idx_where(f));
  if (img.cols == 0)
    throw data_error(name, 12, "a positive column count", "0", detail::idx_where(f));

  // rows * cols < 2^64 always; count * rows * cols may not be, so compare by division.
  const std::size_t per_image = img.rows * img.cols;
  const std::size_t available = b.size() - 16;
  const std::string shape = std::to_string(img.count) + " images of " + std::to_string(img.rows) +
                            "x" + std::to_string(img.cols);
  if (img.count > available / per_image) {
    const std::size_t first_incomplete = available / per_image;
    if (f.stopped)  // the header states more than the reader allows
      throw data_error(name, 4,
                       "at most " + std::to_string(b.size()) +
                           " bytes of decompressed content (rhonet::max_decompressed_bytes)",
                       "a header stating " + shape, detail::idx_where(f));
    std::string expected = "16-byte header + " + shape;
    if (img.count <= (std::numeric_limits<std::size_t>::max() - 16) / per_image)
      expected = std::to_string(16 + img.count * per_image) + " bytes (" + expected + ")";
    throw data_error(name, b.size(), expected, std::to_string(b.size()) + " bytes",
                     detail::idx_where(f, "record " + std::to_string(first_incomplete)));
  }
  const std::size_t end = 16 + img.count * per_image;
  if (b.size() != end || f.stopped)
    throw data_error(name, end, "end of data after " + shape,
                     std::to_string(b.size() - end) + " trailing bytes" + detail::stopped_note(f),
                     detail::idx_where(f));

  b.erase(b.begin(), b.begin() + 16);  // a memmove: cheaper than a second buffer
  img.pixels = std::move(b);
  return img;
}

inline idx_images read_idx_images(const std::filesystem::path& path) {
  return parse_idx_images(read_file_bytes(path, idx_content_bound), path.string());
}

// Layout: magic 2049, count (big-endian uint32), then count bytes. Each label must be in
// [0, classes - 1].
inline std::vector<std::uint8_t> parse_idx_labels(file_bytes f, const std::string& name,
                                                  unsigned classes = 10) {
  if (classes == 0 || classes > 256)
    throw std::invalid_argument("rhonet::read_idx_labels: classes must be in [1, 256], got " +
                                std::to_string(classes));
  detail::check_idx_header(f, name, idx_labels_magic, 8, "labels");
  auto& b = f.bytes;

  const std::size_t count = detail::read_be32(b.data() + 4);
  const std::size_t available = b.size() - 8;
  if (count > available && f.stopped)
    throw data_error(name, 4,
                     "at most " + std::to_string(b.size()) +
                         " bytes of decompressed content (rhonet::max_decompressed_bytes)",
                     "a header stating " + std::to_string(count) + " labels", detail::idx_where(f));
  if (count > available)
    throw data_error(
        name, b.size(),
        std::to_string(8 + count) + " bytes (8-byte header + " + std::to_string(count) + " labels)",
        std::to_string(b.size()) + " bytes",
        detail::idx_where(f, "record " + std::to_string(available)));
  if (count < available || f.stopped)
    throw data_error(name, 8 + count, "end of data after " + std::to_string(count) + " labels",
                     std::to_string(available - count) + " trailing bytes" + detail::stopped_note(f),
                     detail::idx_where(f));
  for (std::size_t i = 0; i < count; ++i)
    if (b[8 + i] >= classes)
      throw data_error(name, 8 + i, "label in [0, " + std::to_string(classes - 1) + "]",
                       std::to_string(b[8 + i]),
                       detail::idx_where(f, "record " + std::to_string(i)));

  b.erase(b.begin(), b.begin() + 8);
  return std::move(b);
}

inline std::vector<std::uint8_t> read_idx_labels(const std::filesystem::path& path,
                                                 unsigned classes = 10) {
  if (classes == 0 || classes > 256)
    throw std::invalid_argument("rhonet::read_idx_labels: classes must be in [1, 256], got " +
                                std::to_string(classes));
  return parse_idx_labels(read_file_bytes(path, idx_content_bound), path.string(), classes);
}

}  // namespace rhonet
