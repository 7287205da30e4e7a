// Loading and preparing the data of a sweep (experiment.hpp): the chosen classes, per-channel
// standardisation with the training set's statistics, unit L2 norm per sample, and for the
// FC nets a constant bias component.
#include "data.hpp"

#include <filesystem>
#include <optional>

#include <rhonet/data/binary_task.hpp>
#include <rhonet/data/cifar10.hpp>
#include <rhonet/data/class_task.hpp>
#include <rhonet/data/idx.hpp>
#include <rhonet/data/preprocess.hpp>

namespace paper {

std::shared_ptr<const data> load_data(const data_request& r) {
  using namespace rhonet;
  auto d = std::make_shared<data>();
  train_test<float> sets;
  if (r.spec == "fashion-mnist") {
    sets = load_fashion_mnist_splits<float>();
    d->name = "fashion-mnist";
  } else {  // cifar10:FOLDER (checked by the command line)
    const std::filesystem::path folder = r.spec.substr(8);
    sets.train = load_cifar10<float>(split::train, folder);
    sets.test = load_cifar10<float>(split::test, folder);
    d->name = "cifar10";
  }
  std::optional<std::size_t> lt, ls;
  if (r.limit_train) lt = r.limit_train;
  if (r.limit_test) ls = r.limit_test;
  if (r.classes.size() == 2) {
    d->image_train = make_binary_task(sets.train, r.classes[0], r.classes[1], r.outputs, lt);
    d->image_test = make_binary_task(sets.test, r.classes[0], r.classes[1], r.outputs, ls);
  } else {
    d->image_train = make_class_task(sets.train, std::span<const int>(r.classes), lt);
    d->image_test = make_class_task(sets.test, std::span<const int>(r.classes), ls);
  }
  d->channels = d->image_train.channels;
  d->side = d->image_train.height;
  d->outputs = r.outputs;
  standardise_per_channel(d->image_train, d->image_test);
  scale_to_unit_norm(d->image_train);
  scale_to_unit_norm(d->image_test);
  d->flat_train = d->image_train;
  d->flat_test = d->image_test;
  append_bias(d->flat_train);
  append_bias(d->flat_test);
  return d;
}

data_info describe(const data& d) {
  return {d.name, d.image_train.size(), d.image_test.size(), d.channels, d.side, d.outputs};
}

}  // namespace paper
