// Mini-batches from a dataset into caller-owned matrices. The caller keeps x and target
// across calls; they are resized only when the batch size changes (the last, smaller batch
// of an epoch), so steady-state batches allocate nothing.
//
//   rhonet::batcher<float> b(train, {.batch_size = 128, .seed = 7});
//   rhonet::matrix<float> x, y;
//   for (int e = 0; e < epochs; ++e)
//     while (std::size_t n = b.next(x, y)) { ... }   // next() returns 0 once per epoch end
//
// Augmentation (off by default, image datasets only) transforms each image as it is copied
// into x, with torchvision's semantics: RandomCrop(size=(H, W), padding=P) then
// RandomHorizontalFlip(p=0.5). Its draws come from a second seeded RNG, so a seed gives the
// same augmented batches everywhere, and the shuffling order does not depend on it.
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

#include <rhonet/core/random.hpp>
#include <rhonet/core/tensor.hpp>
#include <rhonet/data/dataset.hpp>

namespace rhonet {

struct augment_options {
  // P > 0: pad each image with P zeros on every side and crop an H x W window at a uniformly
  // drawn offset in [0, 2P] x [0, 2P] (a shift of up to P pixels each way).
  std::size_t crop_padding = 0;
  // Mirror each image left-right with probability 1/2 (after the crop).
  bool horizontal_flip = false;
  bool enabled() const { return crop_padding > 0 || horizontal_flip; }
};

struct batcher_options {
  std::size_t batch_size = 32;
  std::uint64_t seed = 0;
  bool shuffle = true;     // false: every epoch visits rows 0, 1, ..., N-1
  bool drop_last = false;  // true: an epoch's final batch smaller than batch_size is skipped
  augment_options augment{};  // training-time augmentation of image datasets; off by default
};

template <class T>
class batcher {
 public:
  using value_type = T;
  // Keeps a reference: `data` must outlive the batcher.
  batcher(const dataset<T>& data, batcher_options opt)
      : data_(&data), opt_(opt), rng_(opt.seed), aug_rng_(augment_seed(opt.seed)), order_(data.size()) {
    if (opt_.batch_size == 0)
      throw std::invalid_argument("rhonet::batcher: batch_size must be positive");
    if (data.x.shape()[0] != data.size() || data.target.shape()[0] != data.size())
      throw std::invalid_argument("rhonet::batcher(" + data.source + "): x has " +
                                  std::to_string(data.x.shape()[0]) + " rows, target " +
                                  std::to_string(data.target.shape()[0]) + ", labels " +
                                  std::to_string(data.size()));
    if (opt_.augment.enabled()) {
      const std::size_t px = data.pixels();
      if (px == 0 || data.height < 2 || data.width < 2 || (data.features() != px && data.features() != px + 1))
        throw std::invalid_argument(
            "rhonet::batcher(" + data.source + "): augmentation (crop_padding, horizontal_flip) needs an "
            "image dataset, rows of C*H*W pixels (plus an optional bias column); this one has " +
            std::to_string(data.features()) + " features for C, H, W = " + std::to_string(data.channels) +
            ", " + std::to_string(data.height) + ", " + std::to_string(data.width));
    }
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
    if (opt_.augment.enabled()) gather_augmented(x);
    else gather(data_->x, x);
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
  // std::mt19937_64's standard text form), then, with augmentation on, "augment" and its
  // RNG. restore_state() of that text makes the following epochs shuffle (and augment)
  // exactly as they would have. Mid-epoch state is not saved: logic_error.
  std::string state() const {
    if (!epoch_done_)
      throw std::logic_error("rhonet::batcher::state: only between epochs (after next() returned 0)");
    std::ostringstream s;
    s << epoch_ << ' ' << rng_;
    if (opt_.augment.enabled()) s << " augment " << aug_rng_;
    return s.str();
  }
  void restore_state(const std::string& text) {
    std::istringstream s(text);
    std::size_t epoch = 0;
    std::mt19937_64 rng, aug;
    std::string tag;
    const auto bad = [&](const std::string& why) {
      return std::invalid_argument("rhonet::batcher::restore_state: " + why + ": '" + text.substr(0, 40) +
                                   (text.size() > 40 ? "...'" : "'"));
    };
    if (!(s >> epoch >> rng)) throw bad("not a batcher state");
    const bool has_aug = static_cast<bool>(s >> tag);
    if (has_aug && (tag != "augment" || !(s >> aug))) throw bad("not a batcher state");
    if (!(s >> std::ws).eof()) throw bad("not a batcher state");
    if (has_aug != opt_.augment.enabled())
      throw bad(has_aug ? "a state with augmentation, for a batcher without it"
                        : "a state without augmentation, for a batcher with it");
    epoch_ = epoch;
    rng_ = rng;
    if (has_aug) aug_rng_ = aug;
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
    aug_rng_.seed(augment_seed(opt_.seed));
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
    if (opt_.shuffle) detail::shuffle_in_place(order_, rng_);
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

  // A stream of its own: turning augmentation on leaves the shuffling order as it was.
  static std::uint64_t augment_seed(std::uint64_t seed) { return seed ^ 0x9e3779b97f4a7c15u; }

  // Like gather(data_->x, x), each image cropped and flipped on the way. Per sample, in
  // batch order, the draws are: row offset, column offset (when cropping), flip bit.
  void gather_augmented(matrix<T>& dst) {
    const dataset<T>& d = *data_;
    const std::size_t cols = d.features(), C = d.channels, H = d.height, W = d.width;
    const std::size_t P = opt_.augment.crop_padding;
    if (dst.shape()[0] != batch_size_ || dst.shape()[1] != cols)
      dst.resize(std::array<std::size_t, 2>{batch_size_, cols});
    for (std::size_t r = 0; r < batch_size_; ++r) {
      const T* src = d.x.data() + order_[batch_begin_ + r] * cols;
      T* to = dst.data() + r * cols;
      // Output pixel (h, w) reads input (h + dy - P, w' + dx - P), w' = W-1-w when flipped.
      const std::size_t dy = P ? detail::uniform_below(aug_rng_, 2 * P + 1) : P;
      const std::size_t dx = P ? detail::uniform_below(aug_rng_, 2 * P + 1) : P;
      const bool flip = opt_.augment.horizontal_flip && (aug_rng_() >> 63) != 0;
      for (std::size_t c = 0; c < C; ++c)
        for (std::size_t h = 0; h < H; ++h) {
          T* out = to + (c * H + h) * W;
          const std::size_t sh = h + dy;  // row in the padded image
          if (sh < P || sh - P >= H) {
            std::fill_n(out, W, T(0));
            continue;
          }
          const T* in = src + (c * H + sh - P) * W;
          for (std::size_t w = 0; w < W; ++w) {
            const std::size_t sw = (flip ? W - 1 - w : w) + dx;
            out[w] = sw < P || sw - P >= W ? T(0) : in[sw - P];
          }
        }
      if (cols == C * H * W + 1) to[cols - 1] = src[cols - 1];  // the bias column stays
    }
  }

  const dataset<T>* data_;
  batcher_options opt_;
  std::mt19937_64 rng_, aug_rng_;
  std::vector<std::size_t> order_;
  std::size_t batch_begin_ = 0, batch_size_ = 0;  // indices, not a span: batchers copy safely
  std::size_t pos_ = 0;
  std::size_t epoch_ = 0;
  bool epoch_done_ = true;
};

}  // namespace rhonet
