// save_model / load_model: a trained network for inference. The folder is a checkpoint
// (io/checkpoint.hpp: one .npy per parameter and batch-norm statistic, manifest.json, written
// to a temporary folder and renamed into place) without optimiser or trainer state, whose
// manifest also says what the weights alone do not: each layer's settings (batch norm eps,
// momentum and affine mode, convolution and pooling geometry, dropout p) and, when given, the
// preprocessing its inputs need.
//
//   save_model(*net, "model", {.standardise = stats, .unit_norm = true, .bias_input = 1.f});
//   auto net2 = std::make_unique<net_t>();
//   std::optional<preprocessing<float>> pre = load_model(*net2, "model");
//   predict(*net2, pre->apply(raw_rows));
//
// load_model takes any checkpoint of the same network type (a trainer's too, whose other
// parts it ignores); one of another type is refused with a data_error naming its manifest and
// both signatures. docs/guide.md ("Deploying") reads such a folder with numpy alone.
#pragma once

#include <cmath>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <rhonet/core/error.hpp>
#include <rhonet/core/tensor.hpp>
#include <rhonet/data/preprocess.hpp>
#include <rhonet/io/channel_stats.hpp>
#include <rhonet/io/checkpoint.hpp>

namespace rhonet {

// What is done to a raw sample before the network sees it, in this order (data/preprocess.hpp):
template <class T>
struct preprocessing {
  std::optional<channel_stats<T>> standardise{};  // 1. per channel: (x - mean_c) / std_c
  bool unit_norm = false;                         // 2. each row to unit L2 norm
  std::optional<T> bias_input{};                  // 3. a constant input appended (append_bias)

  // The network's input for raw rows (one sample per row).
  matrix<T> apply(const matrix<T>& raw) const {
    matrix<T> x = raw;
    if (standardise) rhonet::standardise(x, *standardise);
    const std::size_t rows = x.shape()[0], cols = x.shape()[1];
    if (unit_norm)
      for (std::size_t r = 0; r < rows; ++r) {
        double s = 0;
        for (std::size_t c = 0; c < cols; ++c) s += double(x(r, c)) * double(x(r, c));
        if (s > 0)
          for (std::size_t c = 0; c < cols; ++c) x(r, c) = T(double(x(r, c)) / std::sqrt(s));
      }
    if (!bias_input) return x;
    matrix<T> y = matrix<T>::from_shape({rows, cols + 1});
    for (std::size_t r = 0; r < rows; ++r) {
      for (std::size_t c = 0; c < cols; ++c) y(r, c) = x(r, c);
      y(r, cols) = *bias_input;
    }
    return y;
  }
};

//   {"channel_stats": null | {"mean": [...], "stddev": [...]}, "unit_norm": bool,
//    "bias_input": null | number}
template <class T>
void to_json(nlohmann::json& j, const preprocessing<T>& p) {
  j = {{"channel_stats", p.standardise ? nlohmann::json(*p.standardise) : nlohmann::json(nullptr)},
       {"unit_norm", p.unit_norm},
       {"bias_input", p.bias_input ? nlohmann::json(double(*p.bias_input)) : nlohmann::json(nullptr)}};
}
template <class T>
void from_json(const nlohmann::json& j, preprocessing<T>& p) {
  auto fail = [&](const std::string& what) {
    return std::invalid_argument("rhonet::preprocessing from JSON: " + what + ", found " + j.dump().substr(0, 200));
  };
  if (!j.is_object()) throw fail("expected an object");
  preprocessing<T> r;
  if (j.contains("channel_stats") && !j["channel_stats"].is_null())
    r.standardise = j["channel_stats"].get<channel_stats<T>>();
  if (!j.contains("unit_norm") || !j["unit_norm"].is_boolean()) throw fail("expected a boolean 'unit_norm'");
  r.unit_norm = j["unit_norm"].get<bool>();
  if (j.contains("bias_input") && !j["bias_input"].is_null()) {
    if (!j["bias_input"].is_number() || !std::isfinite(j["bias_input"].get<double>()))
      throw fail("expected 'bias_input' a finite number or null");
    r.bias_input = T(j["bias_input"].get<double>());
  }
  p = std::move(r);
}

namespace detail::ckpt {
template <class Net, class T = typename Net::value_type>
void save_model(Net& net, const std::filesystem::path& dir, nlohmann::json pre) {
  save<T>(dir, Net::signature(),
          {network_part<T>(net.parameters(), net.buffers()), model_part(net, std::move(pre))},
          nlohmann::json::object());
}
}  // namespace detail::ckpt

// Writes the network's parameters, batch-norm statistics and description into the folder
// `dir` (created, or atomically replaced). Throws std::system_error on I/O errors.
template <class Net>
void save_model(Net& net, const std::filesystem::path& dir) {
  detail::ckpt::save_model(net, dir, nullptr);
}
// The same, recording the preprocessing of its inputs.
template <class Net>
void save_model(Net& net, const std::filesystem::path& dir, const preprocessing<typename Net::value_type>& pre) {
  detail::ckpt::save_model(net, dir, nlohmann::json(pre));
}

// Loads the parameters, batch-norm statistics and layer settings of a model or checkpoint of
// this network type; returns its preprocessing, if one was recorded. Everything is checked
// before anything is changed (data_error naming the file otherwise).
template <class Net>
std::optional<preprocessing<typename Net::value_type>> load_model(Net& net, const std::filesystem::path& dir) {
  using T = typename Net::value_type;
  namespace ck = detail::ckpt;
  std::optional<preprocessing<T>> out;
  const ck::part<T> pre{{}, [&out](const checkpoint_reader<T>& r) {
                          if (!r.has_section("model") || !r.section("model").contains("preprocessing")) return;
                          const nlohmann::json& j = r.section("model")["preprocessing"];
                          if (j.is_null()) return;
                          preprocessing<T> p;
                          try {
                            p = j.get<preprocessing<T>>();
                          } catch (const std::invalid_argument& e) {
                            r.fail("model.preprocessing", "the preprocessing of the model's inputs", e.what());
                          }
                          if (r.applying()) out = std::move(p);
                        }};
  ck::load<T>(dir, Net::signature(), {ck::network_part<T>(net.parameters(), net.buffers()), ck::model_part(net), pre});
  return out;
}

}  // namespace rhonet
