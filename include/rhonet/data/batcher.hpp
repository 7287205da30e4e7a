// Mini-batches from a dataset into caller-owned matrices. The caller keeps x and target
// across calls; they are resized only when the batch size changes (the last, smaller batch
// of an epoch), so steady-state batches allocate nothing.
//
//   rhonet::batcher<float> b(train, {.batch_size = 128, .seed = 7});
//   rhonet::matrix<float> x, y;
//   for (int e = 0; e < epochs; ++e)
//     while (std::size_t n = b.next(x, y)) { ... }   // next() returns 0 once per epoch end
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <rhonet/core/tensor.hpp>
#include <rhonet/data/dataset.hpp>

namespace rhonet {

struct batcher_options {
  std::size_t batch_size = 32;
  std::uint64_t seed = 0;
  bool shuffle = true;     // false: every epoch visits rows 0, 1, ..., N-1
  bool drop_last = false;  // true: an epoch's final batch smaller than batch_size is skipped
};

namespace detail {

// Uniform in [0, n) by rejection. std::uniform_int_distribution and std::shuffle differ
// between standard libraries; this keeps a seed's batches identical everywhere.
inline std::uint64_t uniform_below(std::mt19937_64& g, std::uint64_t n) {
  constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  const std::uint64_t rem = (max % n + 1) % n;  // 2^64 mod n
  std::uint64_t r = g();
  if (rem != 0)
    while (r > max - rem) r = g();  // reject the incomplete top block
  return r % n;
}

}  // namespace detail

template <class T>
class batcher {
 public:
  using value_type = T;
  // Keeps a reference: `data` must outlive the batcher.
  batcher(const dataset<T>& data, batcher_options opt)
      : data_(&data), opt_(opt), rng_(opt.seed), order_(data.size()) {
    if (opt_.batch_size == 0)
      throw std::invalid_argument("rhonet::batcher: batch_size must be positive");
    if (data.x.shape()[0] != data.size() || data.target.shape()[0] != data.size())
      throw std::invalid_argument("rhonet::batcher(" + data.source + "): x has " +
                                  std::to_string(data.x.shape()[0]) + " rows, target " +
                                  std::to_string(data.target.shape()[0]) + ", labels " +
                                  std::to_string(data.size()));
  }
  batcher(const dataset<T>&&, batcher_options) = delete;  // would dangle

  // Copies the next batch into x (B x D) and target (B x outputs) and returns B; returns 0
  // at the end of an epoch, after which the next call starts (and reshuffles) a new one.
  std::size_t next(matrix<T>& x, matrix<T>& target) {
    if (epoch_done_) start_epoch();
    const std::size_t n = std::min(opt_.batch_size, order_.size() - pos_);
    if (n == 0 || (opt_.drop_last && n < opt_.batch_size)) {
      epoch_done_ = true;
      batch_size_ = 0;
      return 0;
    }
    batch_begin_ = pos_;
    batch_size_ = n;
    pos_ += n;
    gather(data_->x, x);
    gather(data_->target, target);
    return n;
  }

  // Rows of the dataset in the last batch (e.g. to read their labels); empty after an end.
  std::span<const std::size_t> indices() const {
    return std::span<const std::size_t>(order_).subspan(batch_begin_, batch_size_);
  }
  std::size_t epoch() const { return epoch_; }  // epochs started so far
  std::size_t batches_per_epoch() const {
    const std::size_t n = order_.size(), b = opt_.batch_size;
    return opt_.drop_last ? n / b : (n + b - 1) / b;
  }
  const batcher_options& options() const { return opt_; }

  // The state between epochs, for checkpoints: epochs started and the shuffling RNG (in
  // std::mt19937_64's standard text form). restore_state() of that text makes the following
  // epochs shuffle exactly as they would have. Mid-epoch state is not saved: logic_error.
  std::string state() const {
    if (!epoch_done_)
      throw std::logic_error("rhonet::batcher::state: only between epochs (after next() returned 0)");
    std::ostringstream s;
    s << epoch_ << ' ' << rng_;
    return s.str();
  }
  void restore_state(const std::string& text) {
    std::istringstream s(text);
    std::size_t epoch = 0;
    std::mt19937_64 rng;
    if (!(s >> epoch >> rng) || !(s >> std::ws).eof())
      throw std::invalid_argument("rhonet::batcher::restore_state: not a batcher state: '" +
                                  text.substr(0, 40) + (text.size() > 40 ? "...'" : "'"));
    epoch_ = epoch;
    rng_ = rng;
    pos_ = 0;
    epoch_done_ = true;
    batch_size_ = 0;
  }

  // The batcher's part of a checkpoint (io/checkpoint.hpp), between epochs: state() as text.
  template <class Writer>
  void save_state(Writer& w) const {
    w.put("batcher", "state", state());
  }
  template <class Reader>
  void load_state(const Reader& r) {
    const std::string text = r.template get<std::string>("batcher", "state");
    batcher check(*this);
    try {
      check.restore_state(text);
    } catch (const std::invalid_argument& e) {
      r.fail("batcher", "a batcher state", e.what());
    }
    if (r.applying()) *this = check;
  }

  // Back to the state right after construction: the same seed gives the same batches again.
  void reset() {
    rng_.seed(opt_.seed);
    epoch_ = 0;
    pos_ = 0;
    epoch_done_ = true;
    batch_size_ = 0;
  }

 private:
  void start_epoch() {
    // From the identity every epoch, so an epoch's order depends only on the seed and its
    // number, not on how far the previous epoch was read.
    std::iota(order_.begin(), order_.end(), std::size_t{0});
    if (opt_.shuffle)
      for (std::size_t i = order_.size(); i > 1; --i)
        std::swap(order_[i - 1], order_[detail::uniform_below(rng_, i)]);
    pos_ = 0;
    ++epoch_;
    epoch_done_ = false;
  }

  void gather(const matrix<T>& src, matrix<T>& dst) const {
    const std::size_t cols = src.shape()[1];
    if (dst.shape()[0] != batch_size_ || dst.shape()[1] != cols)
      dst.resize(std::array<std::size_t, 2>{batch_size_, cols});
    const T* from = src.data();
    T* to = dst.data();
    for (std::size_t r = 0; r < batch_size_; ++r)
      std::copy_n(from + order_[batch_begin_ + r] * cols, cols, to + r * cols);
  }

  const dataset<T>* data_;
  batcher_options opt_;
  std::mt19937_64 rng_;
  std::vector<std::size_t> order_;
  std::size_t batch_begin_ = 0, batch_size_ = 0;  // indices, not a span: batchers copy safely
  std::size_t pos_ = 0;
  std::size_t epoch_ = 0;
  bool epoch_done_ = true;
};

}  // namespace rhonet
