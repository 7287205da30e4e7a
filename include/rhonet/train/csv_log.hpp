// csv_log: observations.csv and margins.csv in a run folder (docs/run-format.md), one row per
// observation, flushed as it is made. Every write is checked where it happens: a failure
// stops the run with std::system_error naming the file and the OS error. A resumed run keeps
// the rows up to its checkpoint (a killed run may have written more, or a cut last line) and
// appends after them.
#pragma once

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <system_error>

#include <rhonet/io/checked_file.hpp>
#include <rhonet/io/durable_file.hpp>
#include <rhonet/train/trainer.hpp>

namespace rhonet {

namespace detail {
// Keeps the header and the rows whose iter (second column) is at most `last_iter`.
inline void keep_csv_rows_up_to(const std::filesystem::path& file, std::size_t last_iter) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return;
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  std::string kept;
  for (std::size_t begin = 0, end; (end = text.find('\n', begin)) != std::string::npos; begin = end + 1) {
    const std::string_view line(text.data() + begin, end - begin);
    if (begin > 0) {
      const std::size_t comma = line.find(',');
      if (comma == std::string_view::npos ||
          std::strtoull(std::string(line.substr(comma + 1)).c_str(), nullptr, 10) > last_iter)
        continue;
    }
    kept.append(line).push_back('\n');
  }
  write_file_atomically(file, kept);
}

}  // namespace detail

template <class T>
class csv_log final : public run_observer<T> {
 public:
  explicit csv_log(std::filesystem::path folder) : dir_(std::move(folder)) {}

  void on_begin(trainer<T>& t) override {
    namespace fs = std::filesystem;
    fs::create_directories(dir_);
    const fs::path obs = dir_ / "observations.csv", margins = dir_ / "margins.csv";
    const bool append = t.resumed() && fs::exists(obs) && fs::exists(margins);
    if (append) {
      detail::keep_csv_rows_up_to(obs, t.steps());
      detail::keep_csv_rows_up_to(margins, t.steps());
    }
    obs_.open(obs, append);
    margins_.open(margins, append);
    if (!append) {
      obs_.write_line(observation::csv_header(t.net().norms().layer.size()));
      margins_.write_line(observation::margins_csv_header());
    }
  }
  void on_observe(trainer<T>&, const observation& o) override {
    obs_.write_line(o.csv_row());
    margins_.write_line(o.margins_csv_row());
  }
  void on_end(trainer<T>&, const run_outcome&) override {
    obs_.close();
    margins_.close();
  }

 private:
  std::filesystem::path dir_;
  checked_file obs_, margins_;
};

}  // namespace rhonet
