// Separate compilation of rhonet's top floor (opt-in, the model of spdlog's compiled mode).
//
// The trainer, its observers, evaluation, observation and checkpoints depend on the element
// type only (model.hpp). With RHONET_SEPARATE_COMPILATION defined, the headers declare their
// float and double instantiations `extern` (and each layer header its loops' core: batch
// norm, dense, relu, weight norm), so a translation unit that trains a network compiles only
// that network's own code; the instantiations are compiled once, in the static library
// `rhonet::compiled` (CMake target; sources in src/), whose users get the macro defined:
//
//   target_link_libraries(app PRIVATE rhonet::compiled)   # instead of rhonet::rhonet
//
// Without the macro everything stays header-only and is instantiated where it is used.
// train.hpp includes this header; the macro changes where code is compiled, never what it does.
#pragma once

#include <rhonet/layers/batch_norm.hpp>
#include <rhonet/layers/dense.hpp>
#include <rhonet/layers/relu.hpp>
#include <rhonet/layers/weight_norm.hpp>
#include <rhonet/train.hpp>

#if defined(RHONET_SEPARATE_COMPILATION)
// KW is `extern template` (a declaration: compiled elsewhere) or `template` (the definition,
// in src/). Every translation unit sees all the declarations; a source file of the library
// then defines its own group.

// Groups, each compiled per element type in a translation unit of its own (generated from
// src/instantiate.cpp.in), so that each stays within the compile budget (docs/performance.md).
#define RHONET_TOP_FLOOR_OBSERVE(KW, T)                                                          \
  KW class evaluator<T>;                                                                         \
  KW observation observe<T>(model<T>&, const dataset<T>&, const dataset<T>&, double,             \
                            observer_buffers<T>&, const training_loss&);                         \
  KW double stationarity_residual_multiclass<T>(const matrix<T>&, const matrix<T>&,              \
                                                const matrix<T>&, std::span<const double>);      \
  KW nc_observation neural_collapse<T>(const matrix<T>&, std::span<const int>, std::size_t,      \
                                       std::span<const int>, std::span<const double>);           \
  KW nc_observation neural_collapse_binary<T>(const matrix<T>&, std::span<const double>,         \
                                              std::span<const double>, std::span<const double>);

#define RHONET_TOP_FLOOR_CHECKPOINT_WRITE(KW, T)                                                 \
  KW class checkpoint_writer<T>;                                                                 \
  KW void detail::ckpt::save<T>(const std::filesystem::path&, const std::string&,                \
                                const std::vector<detail::ckpt::part<T>>&, nlohmann::json);

#define RHONET_TOP_FLOOR_CHECKPOINT_READ(KW, T)                                                  \
  KW class checkpoint_reader<T>;                                                                 \
  KW nlohmann::json detail::ckpt::load<T>(const std::filesystem::path&, const std::string&,      \
                                          const std::vector<detail::ckpt::part<T>>&);

// The trainer's members in two groups (the training loop; its checkpoint state), named one by
// one: the class as a whole took one unit over the compile budget (docs/performance.md).
#define RHONET_TOP_FLOOR_TRAIN(KW, T)                                                            \
  KW trainer<T>::trainer(model<T>&, const dataset<T>&, trainer_options);                         \
  KW void trainer<T>::make_optimizer(const trainer_options&);                                    \
  KW void trainer<T>::run();                                                                     \
  KW void trainer<T>::train_epoch(std::size_t, std::size_t&);                                    \
  KW void trainer<T>::train_step(std::size_t, std::size_t, std::size_t&);                        \
  KW void trainer<T>::observe(double, bool);                                                     \
  KW std::optional<double> trainer<T>::plateau_metric(const epoch_report&) const;

// train(): the trainer with the observers its options ask for.
#define RHONET_TOP_FLOOR_TRAIN_FUNCTION(KW, T)                                                   \
  KW train_result detail::train_model<T>(model<T>&, const dataset<T>&, const dataset<T>&,        \
                                         const train_options&, const std::vector<run_observer<T>*>&);

#define RHONET_TOP_FLOOR_TRAIN_STATE(KW, T)                                                      \
  KW std::uint64_t trainer<T>::train_fingerprint() const;                                        \
  KW nlohmann::json trainer<T>::config() const;                                                  \
  KW std::vector<detail::ckpt::part<T>> trainer<T>::state_parts();                               \
  KW void trainer<T>::save_checkpoint(const std::filesystem::path&);                             \
  KW std::map<std::string, nlohmann::json> trainer<T>::changing_overrides(                       \
      const std::filesystem::path&, const nlohmann::json&) const;                                \
  KW void trainer<T>::check_saved_config(const checkpoint_reader<T>&, const nlohmann::json&,     \
                                         const nlohmann::json&,                                  \
                                         const std::map<std::string, nlohmann::json>&) const;    \
  KW typename trainer<T>::saved_progress trainer<T>::read_trainer_section(                       \
      const checkpoint_reader<T>&) const;                                                        \
  KW void trainer<T>::resume(const std::filesystem::path&);

#define RHONET_TOP_FLOOR_LIVE_OBSERVERS(KW, T)                                                   \
  KW class fault_guard<T>;                                                                       \
  KW class paper_observables<T>;                                                                 \
  KW class progress<T>;                                                                          \
  KW class flow_check<T>;

#define RHONET_TOP_FLOOR_FILE_OBSERVERS(KW, T)                                                   \
  KW class csv_log<T>;                                                                           \
  KW class run_summary<T>;                                                                       \
  KW class checkpointer<T>;

// The layers' kernels (their sizes are run-time arguments): declared extern in each layer's
// header, so that a unit holding a network compiles none of them.
#define RHONET_TOP_FLOOR_LAYER_KERNELS(KW, T) \
  RHONET_DENSE_INSTANCES(KW, T)               \
  RHONET_RELU_INSTANCES(KW, T)                \
  RHONET_WEIGHT_NORM_INSTANCES(KW, T)         \
  RHONET_BATCH_NORM_INSTANCES(KW, T)
#define RHONET_TOP_FLOOR_AFFINE_LAYER_KERNELS(KW, T) RHONET_AFFINE_BATCH_NORM_INSTANCES(KW, T)

#define RHONET_EXTERN extern template
#define RHONET_TOP_FLOOR(GROUP)  \
  GROUP(RHONET_EXTERN, float)    \
  GROUP(RHONET_EXTERN, double)
namespace rhonet {
RHONET_TOP_FLOOR(RHONET_TOP_FLOOR_OBSERVE)
RHONET_TOP_FLOOR(RHONET_TOP_FLOOR_CHECKPOINT_WRITE)
RHONET_TOP_FLOOR(RHONET_TOP_FLOOR_CHECKPOINT_READ)
RHONET_TOP_FLOOR(RHONET_TOP_FLOOR_TRAIN)
RHONET_TOP_FLOOR(RHONET_TOP_FLOOR_TRAIN_STATE)
RHONET_TOP_FLOOR(RHONET_TOP_FLOOR_TRAIN_FUNCTION)
RHONET_TOP_FLOOR(RHONET_TOP_FLOOR_LIVE_OBSERVERS)
RHONET_TOP_FLOOR(RHONET_TOP_FLOOR_FILE_OBSERVERS)
}  // namespace rhonet
#undef RHONET_TOP_FLOOR
#undef RHONET_EXTERN
#endif
