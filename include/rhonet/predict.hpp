// predict(net, x): the network's output on a batch for inference, in eval mode (batch norm
// uses its running statistics, dropout is the identity), so it never changes the network's
// state. The result is the network's own output buffer, valid until its next forward pass.
//
//   const auto& out = rhonet::predict(net, x);          // x: batch x Net::input_size
//   std::vector<std::size_t> cls = rhonet::argmax(out);  // metrics.hpp
//
// After the first call at a given batch size, a call at that size allocates nothing. The
// network keeps the buffers of its last two batch sizes, so predicting at a third size in
// between training batches of two others sizes them again.
//
// Small batches take the latency paths of eval mode: a dense layer multiplies one sample with
// GEMV and up to detail::small_batch_max_rows samples with core/small_batch.hpp's kernel, so
// that the weights are read once per call (GEMM would pack them first). Batch norm in eval
// mode is an affine map per feature, applied in the same sweep as the ReLU after it; it is
// not folded into a copy of the weights, because at these batch sizes reading the weights is
// the whole cost (docs/performance.md, "Small-batch inference").
#pragma once

#include <rhonet/core/tensor.hpp>

namespace rhonet {

template <class Net>
const matrix<typename Net::value_type>& predict(Net& net, const matrix<typename Net::value_type>& x) {
  return net.forward(x, mode::eval);
}

}  // namespace rhonet
