// The paper's architectures as types (docs/architecture.md, "The paper's nets").
// FC4: four bias-free dense layers D -> W -> W -> W -> Out; D includes the constant bias
// component (785 for Fashion-MNIST, 3073 for CIFAR-10). Conv4: the group's 4-conv net,
// conv 32 k3 s2 p1, [BN -> ReLU -> conv] 64 and 128 k3 s2 p1, then a k4 conv to the output
// (28x28 and 32x32 inputs both reach 4x4 before it).
#pragma once

#include <cstddef>

#include <rhonet/layers/batch_norm.hpp>
#include <rhonet/layers/conv2d.hpp>
#include <rhonet/layers/dense.hpp>
#include <rhonet/layers/input.hpp>
#include <rhonet/layers/relu.hpp>
#include <rhonet/layers/weight_norm.hpp>
#include <rhonet/network.hpp>

namespace rhonet::arch {

template <std::size_t D, std::size_t W = 512, std::size_t Out = 1, class T = float>
using fc4_bn = basic_network<T, input<D>, dense<W>, batch_norm<>, relu, dense<W>, batch_norm<>,
                             relu, dense<W>, batch_norm<>, relu, dense<Out>>;

template <std::size_t D, std::size_t W = 512, std::size_t Out = 1, class T = float>
using fc4 = basic_network<T, input<D>, dense<W>, relu, dense<W>, relu, dense<W>, relu, dense<Out>>;

template <std::size_t D, std::size_t W = 512, std::size_t Out = 1, class T = float>
using fc4_wn = basic_network<T, input<D>, weight_norm<dense<W>>, relu, weight_norm<dense<W>>, relu,
                             weight_norm<dense<W>>, relu, weight_norm<dense<Out>>>;

template <std::size_t C, std::size_t HW, std::size_t Out = 1, class T = float>
using conv4_bn = basic_network<T, input<C, HW, HW>, conv2d<32, 3, 2, 1>, batch_norm<>, relu,
                               conv2d<64, 3, 2, 1>, batch_norm<>, relu, conv2d<128, 3, 2, 1>,
                               batch_norm<>, relu, conv2d<Out, 4, 1, 0>>;

template <std::size_t C, std::size_t HW, std::size_t Out = 1, class T = float>
using conv4 = basic_network<T, input<C, HW, HW>, conv2d<32, 3, 2, 1>, relu, conv2d<64, 3, 2, 1>,
                            relu, conv2d<128, 3, 2, 1>, relu, conv2d<Out, 4, 1, 0>>;

template <std::size_t C, std::size_t HW, std::size_t Out = 1, class T = float>
using conv4_wn = basic_network<T, input<C, HW, HW>, weight_norm<conv2d<32, 3, 2, 1>>, relu,
                               weight_norm<conv2d<64, 3, 2, 1>>, relu,
                               weight_norm<conv2d<128, 3, 2, 1>>, relu,
                               weight_norm<conv2d<Out, 4, 1, 0>>>;

}  // namespace rhonet::arch
