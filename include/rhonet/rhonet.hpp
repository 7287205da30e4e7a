// rhonet: compile-time deep ReLU networks and the observables of Poggio & Liao. Everything:
// the model part (nn.hpp), data sets, observation, the trainer and its observers, checkpoints.
#pragma once

#include <rhonet/nn.hpp>
#include <rhonet/data/file_bytes.hpp>
#include <rhonet/data/idx.hpp>
#include <rhonet/data/cifar10.hpp>
#include <rhonet/data/dataset.hpp>
#include <rhonet/data/binary_task.hpp>
#include <rhonet/data/class_task.hpp>
#include <rhonet/data/preprocess.hpp>
#include <rhonet/data/batcher.hpp>
#include <rhonet/data/one_hot.hpp>
#include <rhonet/data/subset.hpp>
#include <rhonet/observe.hpp>
#include <rhonet/train.hpp>
#include <rhonet/io/durable_file.hpp>
#include <rhonet/io/checked_file.hpp>
#include <rhonet/io/folder_lock.hpp>
#include <rhonet/io/checkpoint.hpp>
#include <rhonet/io/channel_stats.hpp>
#include <rhonet/io/layer_settings.hpp>
#include <rhonet/io/model_file.hpp>
