// Separate compilation of rhonet's top floor (opt-in, the model of spdlog's compiled mode).
//
// The trainer, its observers, evaluation, observation and checkpoints depend on the element
// type only (model.hpp). With RHONET_SEPARATE_COMPILATION defined, the headers declare their
// float and double instantiations `extern`, so a translation unit that trains a network
// compiles only that network; the instantiations are compiled once, in the static library
// `rhonet::compiled` (CMake target; sources in src/), whose users get the macro defined:
//
//   target_link_libraries(app PRIVATE rhonet::compiled)   # instead of rhonet::rhonet
//
// Without the macro everything stays header-only and is instantiated where it is used.
// train.hpp includes this header; the macro changes where code is compiled, never what it does.
#pragma once

#include <rhonet/train.hpp>

#if defined(RHONET_SEPARATE_COMPILATION) || defined(RHONET_INSTANTIATE)
// KW is `extern template` (a declaration: compiled elsewhere) or `template` (the definition,
// in src/). Every translation unit sees all the declarations; a source file of the library
// then defines its own group.

// Three groups, each compiled in a source file of its own (src/), so that each stays small.
#define RHONET_TOP_FLOOR_OBSERVE(KW, T)                                                                           \
  KW class evaluator<T>;                                                                         \
  KW observation observe<T>(model<T>&, const dataset<T>&, const dataset<T>&, double,             \
                                         observer_buffers<T>&, const training_loss&);                         \
  KW double stationarity_residual_multiclass<T>(const matrix<T>&, const matrix<T>&,              \
                                                             const matrix<T>&, std::span<const double>);      \
  KW nc_observation neural_collapse<T>(const matrix<T>&, std::span<const int>, std::size_t,      \
                                                    std::span<const int>, std::span<const double>);           \
  KW nc_observation neural_collapse_binary<T>(const matrix<T>&, std::span<const double>,         \
                                                           std::span<const double>, std::span<const double>);

#define RHONET_TOP_FLOOR_CHECKPOINT(KW, T)                                                                        \
  KW class checkpoint_writer<T>;                                                                 \
  KW class checkpoint_reader<T>;                                                                 \
  KW void detail::ckpt::save<T>(const std::filesystem::path&, const std::string&,                \
                                             const std::vector<detail::ckpt::part<T>>&, nlohmann::json);      \
  KW nlohmann::json detail::ckpt::load<T>(const std::filesystem::path&, const std::string&,      \
                                                       const std::vector<detail::ckpt::part<T>>&);

#define RHONET_TOP_FLOOR_TRAIN(KW, T)                                                                             \
  KW class trainer<T>;                                                                           \
  KW class fault_guard<T>;                                                                       \
  KW class paper_observables<T>;                                                                 \
  KW class csv_log<T>;                                                                           \
  KW class run_summary<T>;                                                                       \
  KW class progress<T>;                                                                          \
  KW class checkpointer<T>;                                                                      \
  KW train_result detail::train_model<T>(model<T>&, const dataset<T>&, const dataset<T>&,        \
                                                      const train_options&);

#define RHONET_EXTERN extern template
namespace rhonet {
RHONET_TOP_FLOOR_OBSERVE(RHONET_EXTERN, float)
RHONET_TOP_FLOOR_OBSERVE(RHONET_EXTERN, double)
RHONET_TOP_FLOOR_CHECKPOINT(RHONET_EXTERN, float)
RHONET_TOP_FLOOR_CHECKPOINT(RHONET_EXTERN, double)
RHONET_TOP_FLOOR_TRAIN(RHONET_EXTERN, float)
RHONET_TOP_FLOOR_TRAIN(RHONET_EXTERN, double)
}  // namespace rhonet
#undef RHONET_EXTERN
#endif
