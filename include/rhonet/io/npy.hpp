// A small, strict reader and writer of NumPy .npy files (format 1.0 written; 1.0, 2.0 and
// 3.0 read) for checkpoints. Written files are standard npy (numpy.load, xt::load_npy read
// them): magic "\x93NUMPY", version, little-endian header length, a Python dict literal
// {'descr': '<f4', 'fortran_order': False, 'shape': (5, 6), } padded with spaces to a
// multiple of 64 bytes and ended by '\n', then the data in C order.
//
// Why not xt::dump_npy / xt::load_npy: the writer must fsync (crash safety), and the reader
// must turn every malformed file (wrong dtype, wrong shape, truncation, garbage) into a
// data_error naming the file, the byte offset and expected versus found, and must read into
// existing storage without allocating a new tensor.
#pragma once

#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <rhonet/core/error.hpp>
#include <rhonet/io/durable_file.hpp>

namespace rhonet::npy {

static_assert(std::endian::native == std::endian::little,
              "rhonet::npy: writes little-endian '<f4'/'<f8' from memory; big-endian hosts are not supported");

// The npy type string of T: '<f4' for float, '<f8' for double.
template <class T>
constexpr const char* descr() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "rhonet::npy: only float and double");
  return std::is_same_v<T, float> ? "<f4" : "<f8";
}

// "(5, 6)", "(5,)", "()": the Python tuple spelling numpy uses in the header.
inline std::string shape_string(const std::vector<std::size_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

inline std::size_t element_count(const std::vector<std::size_t>& shape) {
  std::size_t n = 1;
  for (std::size_t d : shape) n *= d;
  return n;
}

// The parsed header of an npy file.
struct header {
  std::string descr;
  bool fortran_order = false;
  std::vector<std::size_t> shape;
  std::uint64_t data_offset = 0;  // where the data starts
  std::uint64_t dict_offset = 0;  // where the header dict starts (for error positions)
};

// The complete header bytes (magic, version 1.0, length, padded dict) for a C-order array.
inline std::string make_header(const char* type, const std::vector<std::size_t>& shape) {
  std::string dict = std::string("{'descr': '") + type + "', 'fortran_order': False, 'shape': " +
                     shape_string(shape) + ", }";
  const std::size_t prefix = 10;  // magic 6 + version 2 + length 2
  std::size_t total = prefix + dict.size() + 1;
  const std::size_t padded = (total + 63) / 64 * 64;
  dict.append(padded - total, ' ');
  dict += '\n';
  const std::size_t len = dict.size();
  std::string h("\x93NUMPY\x01\x00", 8);
  h += char(len & 0xff);
  h += char((len >> 8) & 0xff);
  return h + dict;
}

namespace detail {

// A tiny parser for the header dict: string keys, values that are strings, True/False or
// tuples of non-negative integers.
class dict_parser {
 public:
  dict_parser(const std::string& text, const std::string& file, std::uint64_t base)
      : s_(text), file_(file), base_(base) {}

  header parse() {
    header h;
    bool have_descr = false, have_order = false, have_shape = false;
    skip();
    expect('{', "'{' opening the header dict");
    for (;;) {
      skip();
      if (peek() == '}') {
        ++i_;
        break;
      }
      const std::string key = string_literal("a quoted key");
      skip();
      expect(':', "':' after key '" + key + "'");
      skip();
      if (key == "descr") {
        h.descr = string_literal("a quoted dtype string for 'descr'");
        have_descr = true;
      } else if (key == "fortran_order") {
        h.fortran_order = boolean();
        have_order = true;
      } else if (key == "shape") {
        h.shape = tuple();
        have_shape = true;
      } else {
        fail("only the keys 'descr', 'fortran_order', 'shape'", "key '" + key + "'");
      }
      skip();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      skip();
      expect('}', "',' or '}' in the header dict");
      break;
    }
    if (!have_descr) fail("a 'descr' key in the header dict", "none");
    if (!have_order) fail("a 'fortran_order' key in the header dict", "none");
    if (!have_shape) fail("a 'shape' key in the header dict", "none");
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& expected, const std::string& found) const {
    throw data_error(file_, base_ + i_, expected, found, "npy header");
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  std::string found_here() const {
    if (i_ >= s_.size()) return "end of header";
    std::string f = "'" + s_.substr(i_, 12) + "'";
    return f;
  }
  void skip() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  void expect(char c, const std::string& what) {
    if (peek() != c) fail(what, found_here());
    ++i_;
  }
  std::string string_literal(const std::string& what) {
    const char q = peek();
    if (q != '\'' && q != '"') fail(what, found_here());
    const std::size_t start = ++i_;
    while (i_ < s_.size() && s_[i_] != q) ++i_;
    if (i_ >= s_.size()) fail("a closing quote", "end of header");
    return s_.substr(start, i_++ - start);
  }
  bool boolean() {
    if (s_.compare(i_, 4, "True") == 0) {
      i_ += 4;
      return true;
    }
    if (s_.compare(i_, 5, "False") == 0) {
      i_ += 5;
      return false;
    }
    fail("True or False for 'fortran_order'", found_here());
  }
  std::vector<std::size_t> tuple() {
    std::vector<std::size_t> dims;
    expect('(', "a tuple '(...)' for 'shape'");
    for (;;) {
      skip();
      if (peek() == ')') {
        ++i_;
        return dims;
      }
      if (peek() < '0' || peek() > '9') fail("a non-negative integer in 'shape'", found_here());
      std::uint64_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        const std::uint64_t d = std::uint64_t(peek() - '0');
        if (v > (UINT64_MAX - d) / 10) fail("a dimension that fits in 64 bits", found_here());
        v = v * 10 + d;
        ++i_;
      }
      while (peek() == 'L') ++i_;  // Python 2 long suffix
      dims.push_back(std::size_t(v));
      skip();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      skip();
      expect(')', "',' or ')' in 'shape'");
      return dims;
    }
  }

  const std::string& s_;
  const std::string& file_;
  std::uint64_t base_;
  std::size_t i_ = 0;
};

inline std::string hex_bytes(const char* p, std::size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    if (i) s += ' ';
    s += digits[(unsigned char)p[i] >> 4];
    s += digits[(unsigned char)p[i] & 15];
  }
  return s;
}

}  // namespace detail

// Writes a C-order array of element_count(shape) values of T to `path` and fsyncs it.
// Throws std::system_error on I/O failure.
template <class T>
void write(const std::string& path, const T* data, const std::vector<std::size_t>& shape) {
  const std::string h = make_header(descr<T>(), shape);
  write_file_synced(path, {h, std::string_view(reinterpret_cast<const char*>(data),
                                              element_count(shape) * sizeof(T))});
}

// Reads and validates the header of an open stream (positioned at 0). data_error on
// anything that is not an npy header.
inline header read_header(std::istream& in, const std::string& file) {
  char pre[12];  // magic 6, version 2, header length 2 (version 1.0) or 4 (2.0, 3.0)
  in.read(pre, 8);
  if (in.gcount() < 6 || std::memcmp(pre, "\x93NUMPY", 6) != 0)
    throw data_error(file, 0, "the npy magic 93 4e 55 4d 50 59 (\"\\x93NUMPY\")",
                     in.gcount() == 0 ? "an empty file" : detail::hex_bytes(pre, std::size_t(in.gcount())));
  if (in.gcount() < 8) throw data_error(file, 6, "2 version bytes", "end of file");
  const unsigned major = (unsigned char)pre[6], minor = (unsigned char)pre[7];
  if (major < 1 || major > 3 || minor != 0)
    throw data_error(file, 6, "npy version 1.0, 2.0 or 3.0", std::to_string(major) + "." + std::to_string(minor));
  const std::size_t len_bytes = major == 1 ? 2 : 4;
  in.read(pre + 8, std::streamsize(len_bytes));
  if (std::size_t(in.gcount()) < len_bytes)
    throw data_error(file, 8, std::to_string(len_bytes) + " header length bytes", "end of file");
  std::uint64_t len = 0;
  for (std::size_t i = 0; i < len_bytes; ++i) len |= std::uint64_t((unsigned char)pre[8 + i]) << (8 * i);
  const std::uint64_t dict_offset = 8 + len_bytes;
  if (len > (1u << 24)) throw data_error(file, 8, "a header length below 16 MiB", std::to_string(len));
  std::string dict(std::size_t(len), '\0');
  in.read(dict.data(), std::streamsize(len));
  if (std::uint64_t(in.gcount()) < len)
    throw data_error(file, dict_offset + std::uint64_t(in.gcount()),
                     "a header dict of " + std::to_string(len) + " bytes", "end of file (truncated header)");
  header h = detail::dict_parser(dict, file, dict_offset).parse();
  h.dict_offset = dict_offset;
  h.data_offset = dict_offset + len;
  return h;
}

// Reads an npy file of T with exactly `shape` into `out` (element_count(shape) values, C
// order). Validates everything before touching `out`: dtype, fortran_order, shape, and the
// file size (truncated or trailing data). `what` names the tensor in messages.
template <class T>
void read_into(const std::string& path, T* out, const std::vector<std::size_t>& shape,
               const std::string& what = {}) {
  const std::string label = what.empty() ? std::string() : " for " + what;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw data_error(path, 0, "an npy file" + label, "no such file or unreadable");
  const header h = read_header(in, path);
  if (h.descr != descr<T>())
    throw data_error(path, h.dict_offset, std::string("dtype '") + descr<T>() + "'" + label,
                     "dtype '" + h.descr + "'", "npy header");
  if (h.fortran_order)
    throw data_error(path, h.dict_offset, "fortran_order False (C order)" + label, "fortran_order True", "npy header");
  if (h.shape != shape)
    throw data_error(path, h.dict_offset, "shape " + shape_string(shape) + label, "shape " + shape_string(h.shape),
                     "npy header");
  const std::uint64_t bytes = std::uint64_t(element_count(shape)) * sizeof(T);
  in.seekg(0, std::ios::end);
  const std::uint64_t size = std::uint64_t(in.tellg());
  if (size != h.data_offset + bytes)
    throw data_error(path, size < h.data_offset + bytes ? size : h.data_offset + bytes,
                     std::to_string(bytes) + " bytes of data after the " + std::to_string(h.data_offset) +
                         "-byte header (file size " + std::to_string(h.data_offset + bytes) + ")" + label,
                     size < h.data_offset + bytes ? "end of file at " + std::to_string(size) + " (truncated)"
                                                  : std::to_string(size - h.data_offset - bytes) +
                                                        " trailing bytes (file size " + std::to_string(size) + ")");
  in.seekg(std::streamoff(h.data_offset));
  in.read(reinterpret_cast<char*>(out), std::streamsize(bytes));
  if (std::uint64_t(in.gcount()) != bytes)
    throw data_error(path, h.data_offset + std::uint64_t(in.gcount()), std::to_string(bytes) + " bytes of data",
                     "a read error");
}

}  // namespace rhonet::npy
