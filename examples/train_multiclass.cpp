// A 10-class Fashion-MNIST classifier with a hand-written training loop: the pieces a user
// combines outside the paper's binary experiment (docs/guide.md walks through them).
//   train_multiclass [--loss ce|square] [--epochs N] [--batch B] [--lr X] [--augment]
//                    [--limit-train N] [--val N] [--limit-test N] [--seed S] [--out DIR]
// Loads the data (Debian's dataset-fashion-mnist, or $RHONET_FASHION_MNIST), standardises it
// per channel, trains a small conv net with SGD, reports validation accuracy each epoch, then
// the test accuracy and confusion matrix; saves the model with its preprocessing (save_model),
// loads it into a fresh network, checks that it predicts the same, and classifies one raw
// test image. Exits 1 on any error, 2 on a bad command line. Two translation units
// (train_multiclass.hpp): this one trains; train_multiclass_model.cpp evaluates and saves.
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>

#include "train_multiclass.hpp"
#include "train_multiclass_cli.hpp"

using namespace rhonet;
using train_multiclass::net_t;

namespace {

// One epoch of SGD; returns the mean loss. Any loss with loss_and_grad works here.
template <class Loss>
double train_epoch(net_t& net, sgd<float>& opt, batcher<float>& batches, const Loss& loss) {
  matrix<float> x, y, grad;
  double total = 0;
  std::size_t samples = 0;
  while (std::size_t n = batches.next(x, y)) {
    const matrix<float>& out = net.forward(x, mode::train);  // batch statistics, dropout on
    total += double(loss_and_grad(loss, out, y, grad)) * double(n);  // reduction::mean
    net.backward(grad);
    opt.step();
    samples += n;
  }
  return total / double(samples);
}

}  // namespace

int main(int argc, char** argv) {
  train_multiclass_cli::options o;
  try {
    o = train_multiclass_cli::parse(argc, argv);
  } catch (const cli::usage_error& e) {
    return cli::usage_exit(e, "train_multiclass");
  }
  const auto& [loss_name, out, epochs, batch, limit_train, val_size, limit_test, seed, lr, augment] = o;

  try {
    // Data: a validation set cut from the training set, per-channel statistics of what is
    // left, applied to all three (and saved with the model for inference).
    dataset<float> full = load_fashion_mnist<float>(split::train);
    dataset<float> test = load_fashion_mnist<float>(split::test);
    if (limit_train > 0) full = head(full, limit_train);
    if (limit_test > 0) test = head(test, limit_test);
    if (val_size >= full.size())
      throw std::invalid_argument("--val " + std::to_string(val_size) + " leaves no training images of " +
                                  std::to_string(full.size()));
    auto [train, val] = random_split(full, full.size() - val_size, seed);
    matrix<float> raw_image = matrix<float>::from_shape({1, test.features()});  // for the end
    std::copy_n(test.x.data(), test.features(), raw_image.data());
    const channel_stats<float> stats = standardise_per_channel(train, test);
    standardise(val, stats);
    std::printf("%zu training, %zu validation, %zu test images; loss %s\n", train.size(), val.size(),
                test.size(), loss_name.c_str());

    auto net = std::make_unique<net_t>();
    init_kaiming_normal(net->parameters(), seed);
    seed_dropout(*net, seed);
    sgd<float> opt(net->parameters(), {.lr = lr, .momentum = 0.9, .weight_decay = 5e-4});
    const lr_schedule schedule = lr_schedule::cosine(lr, 0.0, epochs);
    // drop_last: a last batch of one image could not be batch-normalised in train mode.
    batcher<float> batches(train, {.batch_size = batch,
                                   .seed = seed,
                                   .drop_last = true,
                                   .augment = {.crop_padding = augment ? 2u : 0u, .horizontal_flip = augment}});

    for (std::size_t epoch = 0; epoch < epochs; ++epoch) {
      opt.set_lr(schedule.lr_at(epoch));
      const double l = loss_name == "ce" ? train_epoch(*net, opt, batches, cross_entropy{reduction::mean})
                                         : train_epoch(*net, opt, batches, square_loss{reduction::mean});
      std::printf("epoch %zu  lr %.4f  train loss %.4f  validation accuracy %.4f\n", epoch + 1, opt.lr(), l,
                  train_multiclass::evaluate_on(*net, val).accuracy());
    }

    train_multiclass::finish(*net, test, stats, raw_image, out, loss_name);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_multiclass: %s\n", e.what());
    return 1;
  }
}
