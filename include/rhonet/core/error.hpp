// The one exception type for malformed input files (data sets, checkpoints). It always names
// the file, the byte offset and what was expected versus found, so a corrupt download can be
// located with a hex dump instead of a debugger.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace rhonet {

class data_error : public std::runtime_error {
 public:
  // `where` is optional extra context shown in parentheses, e.g. "record 3" or "decompressed".
  // Message: "<file>: at byte offset <position> (<where>): expected <expected>, found <found>".
  data_error(std::string file, std::uint64_t position, std::string expected, std::string found,
             std::string_view where = {})
      : std::runtime_error(format(file, position, expected, found, where)),
        file_(std::move(file)),
        position_(position),
        expected_(std::move(expected)),
        found_(std::move(found)) {}

  const std::string& file() const noexcept { return file_; }
  std::uint64_t position() const noexcept { return position_; }
  const std::string& expected() const noexcept { return expected_; }
  const std::string& found() const noexcept { return found_; }

 private:
  static std::string format(const std::string& file, std::uint64_t position,
                            const std::string& expected, const std::string& found,
                            std::string_view where) {
    std::string m = file + ": at byte offset " + std::to_string(position);
    if (!where.empty()) {
      m += " (";
      m += where;
      m += ')';
    }
    return m + ": expected " + expected + ", found " + found;
  }

  std::string file_;
  std::uint64_t position_;
  std::string expected_;
  std::string found_;
};

}  // namespace rhonet
