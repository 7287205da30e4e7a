// An in-memory labelled data set: one sample per row, images flattened NCHW (C*H*W features),
// plus the loaders for Fashion-MNIST and CIFAR-10 which return raw pixels scaled to [0, 1].
// Preprocessing (preprocess.hpp), binary tasks (binary_task.hpp) and tasks of chosen classes
// (class_task.hpp) transform a dataset.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <rhonet/core/error.hpp>
#include <rhonet/core/tensor.hpp>
#include <rhonet/data/cifar10.hpp>
#include <rhonet/data/idx.hpp>

namespace rhonet {

enum class split { train, test };

inline const char* to_string(split s) { return s == split::train ? "train" : "test"; }

template <class T>
struct dataset {
  matrix<T> x;             // N x D, row-major
  std::vector<int> label;  // N original class ids
  matrix<T> target;        // N x outputs: one-hot over all classes from the loaders;
                           // +-1 (one output) or one-hot (two outputs) for a binary task
  std::size_t channels = 0, height = 0, width = 0;  // D = C*H*W, +1 once a bias is appended
  std::size_t classes = 0;                          // class ids lie in [0, classes)
  std::string source;  // e.g. "fashion-mnist:test", "cifar10:train[3 vs 5]"

  std::size_t size() const { return label.size(); }
  std::size_t features() const { return x.shape()[1]; }
  std::size_t outputs() const { return target.shape()[1]; }
  std::size_t pixels() const { return channels * height * width; }
  bool has_bias() const { return features() == pixels() + 1; }
};

// Number of samples of each class id in [0, classes).
template <class T>
std::vector<std::size_t> class_counts(const dataset<T>& d) {
  std::vector<std::size_t> counts(d.classes, 0);
  for (int l : d.label)
    if (l >= 0 && static_cast<std::size_t>(l) < d.classes) ++counts[static_cast<std::size_t>(l)];
  return counts;
}

namespace detail {

// Fills x (scaled by 1/255), labels and one-hot targets from raw bytes.
template <class T>
void fill_dataset(dataset<T>& d, std::size_t count, const std::vector<std::uint8_t>& pixels,
                  const std::vector<std::uint8_t>& labels, std::size_t classes) {
  const std::size_t dim = d.pixels();
  std::array<T, 256> scale{};  // one division per byte value instead of per pixel
  for (std::size_t v = 0; v < 256; ++v) scale[v] = static_cast<T>(v) / static_cast<T>(255);

  d.x = matrix<T>::from_shape({count, dim});
  T* x = d.x.data();
  for (std::size_t i = 0; i < count * dim; ++i) x[i] = scale[pixels[i]];

  d.classes = classes;
  d.label.assign(labels.begin(), labels.end());
  d.target = matrix<T>::from_shape({count, classes});
  d.target.fill(T(0));
  for (std::size_t n = 0; n < count; ++n) d.target(n, labels[n]) = T(1);
}

}  // namespace detail

// $RHONET_FASHION_MNIST if set and non-empty, else where Debian's dataset-fashion-mnist
// package installs the files.
inline std::filesystem::path default_fashion_mnist_dir() {
  if (const char* env = std::getenv("RHONET_FASHION_MNIST"); env != nullptr && *env != '\0')
    return env;
  return "/usr/share/datasets/fashion-mnist";
}

// Looks for <base>.gz, then <base>; the error names the .gz file and how to obtain it.
inline std::filesystem::path find_fashion_mnist_file(const std::filesystem::path& folder,
                                                     const std::string& base) {
  const auto gz = folder / (base + ".gz");
  if (std::filesystem::exists(gz)) return gz;
  const auto plain = folder / base;
  if (std::filesystem::exists(plain)) return plain;
  throw data_error(gz.string(), 0,
                   "the Fashion-MNIST file " + base +
                       "[.gz] (install Debian's dataset-fashion-mnist package, or set "
                       "RHONET_FASHION_MNIST to the folder holding the IDX files)",
                   "no such file");
}

namespace detail {

// One split of Fashion-MNIST. With `like`, the images must have its shape (the other split's
// images file, read before), checked before the labels are read.
template <class T>
dataset<T> load_fashion_mnist_split(split s, const std::filesystem::path& folder,
                                    const std::pair<const idx_images*, std::filesystem::path>& like = {}) {
  const std::string prefix = s == split::train ? "train" : "t10k";
  const auto images_path = find_fashion_mnist_file(folder, prefix + "-images-idx3-ubyte");
  const auto labels_path = find_fashion_mnist_file(folder, prefix + "-labels-idx1-ubyte");
  const idx_images images = read_idx_images(images_path);
  if (const idx_images* other = like.first; other && (other->rows != images.rows || other->cols != images.cols))
    throw data_error(images_path.string(), 8,
                     "images of " + std::to_string(other->rows) + "x" + std::to_string(other->cols) +
                         " like those of " + like.second.string(),
                     "images of " + std::to_string(images.rows) + "x" + std::to_string(images.cols));
  const std::vector<std::uint8_t> labels = read_idx_labels(labels_path, 10);
  if (labels.size() != images.count)
    throw data_error(labels_path.string(), 4,
                     std::to_string(images.count) + " labels, one per image in " +
                         images_path.filename().string(),
                     std::to_string(labels.size()) + " labels");

  dataset<T> d;
  d.channels = 1;
  d.height = images.rows;
  d.width = images.cols;
  d.source = std::string("fashion-mnist:") + to_string(s);
  detail::fill_dataset(d, images.count, images.pixels, labels, 10);
  return d;
}

}  // namespace detail

// Fashion-MNIST as 1 x rows x cols images (28 x 28 for the real files), 10 classes.
template <class T>
dataset<T> load_fashion_mnist(split s,
                              const std::filesystem::path& folder = default_fashion_mnist_dir()) {
  return detail::load_fashion_mnist_split<T>(s, folder);
}

template <class T>
struct train_test {
  dataset<T> train, test;
};

// Both splits of Fashion-MNIST, whose images must have one shape: a mismatch is a data_error
// naming both images files, raised as soon as the second one is read.
template <class T>
train_test<T> load_fashion_mnist_splits(const std::filesystem::path& folder = default_fashion_mnist_dir()) {
  train_test<T> r;
  r.test = load_fashion_mnist<T>(split::test, folder);  // the smaller file first
  idx_images test_shape;
  test_shape.rows = r.test.height;
  test_shape.cols = r.test.width;
  r.train = detail::load_fashion_mnist_split<T>(
      split::train, folder, {&test_shape, find_fashion_mnist_file(folder, "t10k-images-idx3-ubyte")});
  return r;
}

// CIFAR-10 as 3 x 32 x 32 images, 10 classes; `folder` holds the .bin files (or their
// cifar-10-batches-bin parent).
template <class T>
dataset<T> load_cifar10(split s, const std::filesystem::path& folder) {
  const cifar10_records r = s == split::train ? read_cifar10(cifar10_train_files(folder))
                                              : read_cifar10_batch(cifar10_test_file(folder));
  dataset<T> d;
  d.channels = 3;
  d.height = 32;
  d.width = 32;
  d.source = std::string("cifar10:") + to_string(s);
  detail::fill_dataset(d, r.count, r.pixels, r.labels, 10);
  return d;
}

}  // namespace rhonet
