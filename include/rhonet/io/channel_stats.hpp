// channel_stats as JSON, so the preprocessing travels with the model:
//   {"mean": [m_0, ...], "stddev": [s_0, ...]}          one entry per channel
//
//   nlohmann::json j = stats;                           // to_json / from_json (ADL)
//   save_checkpoint(dir, net, &opt, {{"channel_stats", stats}});
//   auto s = load_checkpoint(dir, net)["channel_stats"].get<channel_stats<float>>();
//   save_channel_stats(path, stats);  load_channel_stats<float>(path);   // a file of its own
//
// Reading checks the fields, equal lengths, finite means and finite non-negative deviations:
// std::invalid_argument from JSON, rhonet::data_error naming the file from a file.
#pragma once

#include <cmath>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <rhonet/core/error.hpp>
#include <rhonet/data/preprocess.hpp>
#include <rhonet/io/durable_file.hpp>

namespace rhonet {

template <class T>
void to_json(nlohmann::json& j, const channel_stats<T>& s) {
  j = nlohmann::json{{"mean", s.mean}, {"stddev", s.stddev}};
}

template <class T>
void from_json(const nlohmann::json& j, channel_stats<T>& s) {
  const auto fail = [](const std::string& what) {
    return std::invalid_argument("rhonet::channel_stats from JSON: " + what);
  };
  if (!j.is_object()) throw fail("expected an object {\"mean\": [...], \"stddev\": [...]}, found " + j.dump());
  channel_stats<T> r;
  for (const char* key : {"mean", "stddev"}) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_array()) throw fail(std::string("expected an array field '") + key + "'");
    std::vector<T>& out = key[0] == 'm' ? r.mean : r.stddev;
    for (std::size_t c = 0; c < it->size(); ++c) {
      const auto& v = (*it)[c];
      if (!v.is_number() || !std::isfinite(v.get<double>()) || (key[0] == 's' && v.get<double>() < 0))
        throw fail(std::string(key) + "[" + std::to_string(c) + "]: expected a finite" +
                   (key[0] == 's' ? " non-negative" : "") + " number, found " + v.dump());
      out.push_back(v.get<T>());
    }
  }
  if (r.mean.empty() || r.mean.size() != r.stddev.size())
    throw fail(std::to_string(r.mean.size()) + " means and " + std::to_string(r.stddev.size()) +
               " deviations; expected one of each per channel");
  s = std::move(r);
}

// Written atomically (a synced temporary file, then a rename).
template <class T>
void save_channel_stats(const std::filesystem::path& path, const channel_stats<T>& s) {
  write_file_atomically(path, nlohmann::json(s).dump(2) + "\n");
}

template <class T>
channel_stats<T> load_channel_stats(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw data_error(path.string(), 0, "a channel statistics JSON file", "a file that cannot be opened");
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::parse_error& e) {
    throw data_error(path.string(), e.byte > 0 ? e.byte - 1 : 0, "JSON", e.what());
  }
  try {
    return j.get<channel_stats<T>>();
  } catch (const std::invalid_argument& e) {
    throw data_error(path.string(), 0, "{\"mean\": [...], \"stddev\": [...]}, one finite number per channel",
                     e.what());
  }
}

}  // namespace rhonet
