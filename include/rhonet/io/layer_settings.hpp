// The layers of a network as JSON, for the manifest of a saved model: what a reader outside
// rhonet needs besides the weights to run it (docs/guide.md, "Deploying").
//
//   [{"position": 1, "layer": "conv2d<8,3,1,1>", "in_shape": [1, 28, 28], "out_shape": [8, 28, 28],
//     "kernel": 3, "stride": 1, "padding": 1, "bias": false},
//    {"position": 2, "layer": "batch_norm<>", ..., "eps": 1e-05, "momentum": 0.1, "affine": "none"},
//    {"position": 3, "layer": "relu", ...}, ...]
//
// Settings come from each layer's for_each_setting (layers/layer.hpp). Those a layer keeps
// as run-time state (batch norm's eps and momentum) are restored by apply_layer_settings; the
// others are fixed by the network's type, which the signature already checks.
#pragma once

#include <cmath>
#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>

#include <nlohmann/json.hpp>

#include <rhonet/core/error.hpp>

namespace rhonet {

namespace detail {
template <class Shape>
nlohmann::json shape_json() {
  nlohmann::json a = nlohmann::json::array();
  for (std::size_t d : Shape::dims) a.push_back(d);
  return a;
}
}  // namespace detail

// One entry per layer, in order (see above).
template <class Net>
nlohmann::json describe_layers(const Net& net) {
  nlohmann::json layers = nlohmann::json::array();
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    auto one = [&](const auto& layer, std::string name, std::size_t i) {
      using L = std::remove_cvref_t<decltype(layer)>;
      nlohmann::json e = {{"position", i + 1}, {"layer", std::move(name)},
                          {"in_shape", detail::shape_json<typename L::in_shape>()},
                          {"out_shape", detail::shape_json<typename L::out_shape>()}};
      if constexpr (requires { layer.for_each_setting([](const char*, const auto&) {}); })
        layer.for_each_setting([&](const char* key, const auto& value) {
          if constexpr (std::is_floating_point_v<std::remove_cvref_t<decltype(value)>>) e[key] = double(value);
          else e[key] = value;
        });
      layers.push_back(std::move(e));
    };
    (one(net.template layer<I>(), Net::template spec_type<I>::name(), I), ...);
  }(std::make_index_sequence<Net::layer_count>{});
  return layers;
}

// Checks `layers` (as written by describe_layers for this network type) and, when `apply`,
// assigns the run-time settings to the layers. Errors are data_error naming `file` and the
// entry ("model.layers[1].eps").
template <class Net>
void apply_layer_settings(Net& net, const nlohmann::json& layers, const std::string& file, bool apply) {
  if (!layers.is_array() || layers.size() != Net::layer_count)
    throw data_error(file, 0, "an array of " + std::to_string(Net::layer_count) + " layer entries",
                     layers.dump().substr(0, 200), "model.layers");
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    auto one = [&](auto& layer, const std::string& name, std::size_t i) {
      const std::string where = "model.layers[" + std::to_string(i) + "]";
      const nlohmann::json& e = layers[i];
      if (!e.is_object() || !e.contains("layer") || e["layer"] != name)
        throw data_error(file, 0, "the entry of layer " + std::to_string(i + 1) + ", " + name, e.dump().substr(0, 200),
                         where);
      if constexpr (requires { layer.for_each_setting([](const char*, auto&&) {}); })
        layer.for_each_setting([&](const char* key, auto&& value) {
          using V = std::remove_reference_t<decltype(value)>;
          // Only what the layer passes by non-const reference is its run-time state.
          if constexpr (std::is_lvalue_reference_v<decltype(value)> && std::is_floating_point_v<V> &&
                        !std::is_const_v<V>) {
            if (!e.contains(key) || !e[key].is_number() || !std::isfinite(e[key].template get<double>()))
              throw data_error(file, 0, std::string("a finite number '") + key + "'",
                               e.contains(key) ? e[key].dump() : std::string("no such field"), where);
            if (apply) value = V(e[key].template get<double>());
          }
        });
    };
    (one(net.template layer<I>(), Net::template spec_type<I>::name(), I), ...);
  }(std::make_index_sequence<Net::layer_count>{});
}

}  // namespace rhonet
