// Helpers shared by the reliability tests (trainer faults, resume, crash): a small separable
// data set, scratch folders, bit-exact snapshots of a network and CSV comparison.
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <rhonet/data/dataset.hpp>

namespace rhonet_test {

// Two separable clouds in 16 dimensions (+1 bias component), unit norm, labels +-1.
inline rhonet::dataset<float> clouds(std::size_t n, std::uint64_t seed) {
  rhonet::dataset<float> d;
  d.x = rhonet::matrix<float>::from_shape({n, 17});
  d.target = rhonet::matrix<float>::from_shape({n, 1});
  d.channels = 1, d.height = 1, d.width = 16, d.classes = 2, d.source = "clouds";
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.f, 1.f);
  for (std::size_t i = 0; i < n; ++i) {
    const float y = i % 2 ? 1.f : -1.f;
    float norm = 0;
    for (std::size_t j = 0; j < 16; ++j) {
      d.x(i, j) = 0.3f * g(rng) + (j == 0 ? 2.f * y : 0.f);
      norm += d.x(i, j) * d.x(i, j);
    }
    for (std::size_t j = 0; j < 16; ++j) d.x(i, j) /= std::sqrt(norm);
    d.x(i, 16) = 1.f;
    d.target(i, 0) = y;
    d.label.push_back(y > 0 ? 0 : 1);
  }
  return d;
}

// A fresh folder under the temp dir, removed afterwards.
struct scratch {
  std::filesystem::path path;
  explicit scratch(const std::string& name) {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() /
           ("rhonet_rel_" + name + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~scratch() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_text(const std::filesystem::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << s;
}

// Every value of a net (parameters, then buffers) as raw bytes, for bit-exact comparison.
template <class Net>
std::vector<unsigned char> bytes_of(Net& net) {
  std::vector<unsigned char> b;
  auto add = [&](const auto* p, std::size_t n) {
    const auto* c = reinterpret_cast<const unsigned char*>(p);
    b.insert(b.end(), c, c + n * sizeof(*p));
  };
  for (auto* p : net.parameters()) add(p->value.data(), p->value.size());
  for (auto* s : net.buffers()) add(s->value.data(), s->value.size());
  return b;
}

// A CSV text without the named column (e.g. the wall-clock "seconds").
inline std::string without_column(const std::string& csv, const std::string& column) {
  std::istringstream in(csv);
  std::string line, out;
  long drop = -1;
  for (bool header = true; std::getline(in, line); header = false) {
    std::vector<std::string> cells;
    std::stringstream ls(line);
    for (std::string c; std::getline(ls, c, ',');) cells.push_back(c);
    if (header)
      for (std::size_t i = 0; i < cells.size(); ++i)
        if (cells[i] == column) drop = long(i);
    for (std::size_t i = 0; i < cells.size(); ++i)
      if (long(i) != drop) out += cells[i] + ',';
    out += '\n';
  }
  return out;
}

}  // namespace rhonet_test
