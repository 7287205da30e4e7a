// train_multiclass's network and the two halves of the program, each a translation unit of its
// own so that neither holds all of the network's code: training (train_multiclass.cpp: data,
// the loop, forward and backward) and the trained model (train_multiclass_model.cpp:
// evaluation, saving, loading back, prediction). docs/performance.md ("Compile time") says why.
#pragma once

#include <string>

#include <rhonet/rhonet.hpp>

namespace train_multiclass {

// 1x28x28 -> 16x28x28 -> 16x14x14 -> 32x14x14 -> 32x7x7 -> 64 -> 10. No bias before a
// batch_norm (its mean subtraction would cancel it); a bias on the output layer. The batch
// norm before the last relu also keeps the square loss from killing every hidden unit in
// its first steps, when the outputs are still large.
using net_t = rhonet::network<rhonet::input<1, 28, 28>,
                              rhonet::conv2d<16, 3, 1, 1>, rhonet::batch_norm<>, rhonet::relu, rhonet::max_pool2d<2>,
                              rhonet::conv2d<32, 3, 1, 1>, rhonet::batch_norm<>, rhonet::relu, rhonet::max_pool2d<2>,
                              rhonet::flatten, rhonet::dropout<0.25>, rhonet::dense<64>, rhonet::batch_norm<>,
                              rhonet::relu, rhonet::dense<10, rhonet::bias::on>>;

// The confusion matrix of a network on a dataset, in eval mode, batch by batch.
rhonet::confusion_matrix evaluate_on(net_t& net, const rhonet::dataset<float>& data);

// The end of the run: test accuracy and confusion matrix; the model saved to out/model with
// its preprocessing, loaded into a fresh network and checked to predict the same; one raw
// test image (raw_image, 1 x 784) classified as an application would. Throws on a mismatch.
void finish(net_t& net, const rhonet::dataset<float>& test, const rhonet::channel_stats<float>& stats,
            const rhonet::matrix<float>& raw_image, const std::string& out, const std::string& loss_name);

}  // namespace train_multiclass
