// Readers for IDX files (MNIST, Fashion-MNIST), plain or gzip-compressed (data/file_bytes.hpp
// reads and gunzips). Every malformed input raises rhonet::data_error naming the file and byte
// offset; offsets into a gzip file's content are offsets into the decompressed bytes and the
// message says "decompressed". The decompressed size is bounded by what the IDX header states,
// and never beyond max_decompressed_bytes.
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

#include <rhonet/core/error.hpp>
#include <rhonet/data/file_bytes.hpp>

namespace rhonet {

struct idx_images {
  std::size_t count = 0, rows = 0, cols = 0;
  std::vector<std::uint8_t> pixels;  // count * rows * cols, image-major, row-major inside
};

inline constexpr std::uint32_t idx_images_magic = 2051;  // 0x00000803: ubyte, 3 dimensions
inline constexpr std::uint32_t idx_labels_magic = 2049;  // 0x00000801: ubyte, 1 dimension

namespace detail {

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
