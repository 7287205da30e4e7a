// backward_and_step: a network's backward pass with an optimiser's step inside it. Each
// parameter is updated (optimizer::update) as soon as its layer's backward has run, the last
// code of the pass that reads its value, while its value and gradient are still in cache.
// Every update reads only its own parameter's value, gradient and state and the step's
// scalars, so the result is bit-identical to net.backward(dout); opt.step().
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

#include <rhonet/core/parameter.hpp>
#include <rhonet/core/tensor.hpp>
#include <rhonet/optim/optimizer.hpp>

namespace rhonet {

// Parameters opt does not hold are left alone; opt holding a parameter the network does not
// have is a std::logic_error after the pass (it would have missed its update).
template <class Net, class T>
void backward_and_step(Net& net, const matrix<T>& dout, optimizer<T>& opt) {
  opt.begin_step();
  std::size_t updated = 0;
  net.backward(dout, false, [&](parameter<T>& p) {
    if (const std::size_t i = opt.index_of(p); i != optimizer<T>::npos) opt.update(i), ++updated;
  });
  if (updated != opt.parameters().size())
    throw std::logic_error("rhonet::backward_and_step: the optimizer holds " + std::to_string(opt.parameters().size()) +
                           " parameters, the network updated " + std::to_string(updated) + " of them");
  opt.end_step();
}

}  // namespace rhonet
