// rhonet's model part: networks as types, their layers, the homogeneity analysis, the model
// interface, losses, the optimizer and initialisation. It needs xtensor and a BLAS only (no
// JSON, no zlib); rhonet.hpp adds data loading, observation, training and checkpoints.
#pragma once

#include <rhonet/core/shape.hpp>
#include <rhonet/core/tensor.hpp>
#include <rhonet/core/parameter.hpp>
#include <rhonet/core/norms.hpp>
#include <rhonet/core/error.hpp>
#include <rhonet/core/threads.hpp>
#include <rhonet/core/subnormals.hpp>
#include <rhonet/core/blas_kernels.hpp>
#include <rhonet/core/ensure_blas_kernels.hpp>
#include <rhonet/layers/layer.hpp>
#include <rhonet/layers/input.hpp>
#include <rhonet/layers/dense.hpp>
#include <rhonet/layers/conv2d.hpp>
#include <rhonet/layers/batch_norm.hpp>
#include <rhonet/layers/relu.hpp>
#include <rhonet/layers/flatten.hpp>
#include <rhonet/layers/global_avg_pool.hpp>
#include <rhonet/layers/weight_norm.hpp>
#include <rhonet/layers/max_pool2d.hpp>
#include <rhonet/layers/avg_pool2d.hpp>
#include <rhonet/layers/dropout.hpp>
#include <rhonet/homogeneity.hpp>
#include <rhonet/network.hpp>
#include <rhonet/architectures.hpp>
#include <rhonet/model.hpp>
#include <rhonet/loss.hpp>
#include <rhonet/metrics.hpp>
#include <rhonet/predict.hpp>
#include <rhonet/optim.hpp>
#include <rhonet/init.hpp>
