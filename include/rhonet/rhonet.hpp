// rhonet: compile-time deep ReLU networks and the observables of Poggio & Liao.
#pragma once

#include <rhonet/core/shape.hpp>
#include <rhonet/core/tensor.hpp>
#include <rhonet/core/parameter.hpp>
#include <rhonet/homogeneity.hpp>
#include <rhonet/layers/input.hpp>
#include <rhonet/layers/dense.hpp>
#include <rhonet/layers/conv2d.hpp>
#include <rhonet/layers/batch_norm.hpp>
#include <rhonet/layers/relu.hpp>
#include <rhonet/layers/flatten.hpp>
#include <rhonet/layers/global_avg_pool.hpp>
#include <rhonet/layers/weight_norm.hpp>
#include <rhonet/network.hpp>
#include <rhonet/architectures.hpp>
#include <rhonet/loss.hpp>
#include <rhonet/optim.hpp>
#include <rhonet/init.hpp>
#include <rhonet/core/norms.hpp>
#include <rhonet/core/error.hpp>
#include <rhonet/data/idx.hpp>
#include <rhonet/data/cifar10.hpp>
#include <rhonet/data/dataset.hpp>
#include <rhonet/data/binary_task.hpp>
#include <rhonet/data/preprocess.hpp>
#include <rhonet/data/batcher.hpp>
