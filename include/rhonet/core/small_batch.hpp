// The eval-mode product of a few rows with a weight matrix, y = x W^T (x: rows x k, W: n x k,
// both row-major), for the small batches of inference. GEMM packs all of W before it
// multiplies, which at 2 to 8 rows costs more than the product; GEMV per row would stream W
// once per row. This kernel reads each row of W once and multiplies it with every row of x
// while it is in L1, so a small batch streams the weights once, as a single sample does.
//
// Each dot product runs in lanes of one vector register's width, summed in an order fixed in
// the source: the result is deterministic and the same in the baseline and AVX2 copies
// (core/dispatch.hpp). It differs from GEMM's in the last bits, which is why the network uses
// it in eval mode only, where no gradient is compared with another library's.
#pragma once

#include <cstddef>

#include <rhonet/core/dispatch.hpp>

namespace rhonet::detail {

// Batches of up to this many rows take the kernel below in eval mode (layers/dense.hpp); one
// row takes GEMV, more rows GEMM. Measured with rhonet_bench's fc4_bn_latency rows.
inline constexpr std::size_t small_batch_max_rows = 8;

// One vector register of lanes per dot product. GCC's vector extension says which loop is
// the vector one: left to itself, the vectoriser picked the loop along k and transposed
// (slower than GEMM at four rows).
#if defined(__GNUC__)
template <class T>
struct lanes_of;  // float and double: the types the library is instantiated for
template <>
struct lanes_of<float> {
  typedef float type __attribute__((vector_size(32)));
};
template <>
struct lanes_of<double> {
  typedef double type __attribute__((vector_size(32)));
};
#endif

// R rows of x against every row of W: each W row is loaded once per R rows. U accumulators
// per row, so that 8 or more independent chains hide the latency of the adds (with one chain
// per row, two rows took as long as four).
template <std::size_t R, class T>
RHONET_KERNEL inline void rows_times_wt(const T* x, std::size_t k, const T* w, std::size_t n, T* y,
                                        std::size_t ldy) {
  constexpr std::size_t L = 32 / sizeof(T);  // lanes: one 256-bit register of T
  constexpr std::size_t U = R >= 3 ? 2 : 4;  // registers of lanes per row
  const std::size_t full = k / (L * U) * (L * U);
  for (std::size_t j = 0; j < n; ++j) {
    const T* wj = w + j * k;
    T sums[R];
#if defined(__GNUC__)
    using V = typename lanes_of<T>::type;
    V acc[R][U] = {};
    for (std::size_t c = 0; c < full; c += L * U)
      for (std::size_t u = 0; u < U; ++u) {
        V wv;
        __builtin_memcpy(&wv, wj + c + u * L, sizeof wv);
        for (std::size_t r = 0; r < R; ++r) {
          V xv;
          __builtin_memcpy(&xv, x + r * k + c + u * L, sizeof xv);
          acc[r][u] += wv * xv;
        }
      }
    // The lanes summed as a tree (depth log2(U L), not U L): the order is still fixed.
    for (std::size_t r = 0; r < R; ++r) {
      for (std::size_t h = U / 2; h >= 1; h /= 2)
        for (std::size_t u = 0; u < h; ++u) acc[r][u] += acc[r][u + h];
      T t[L];
      __builtin_memcpy(t, &acc[r][0], sizeof t);
      for (std::size_t h = L / 2; h >= 1; h /= 2)
        for (std::size_t l = 0; l < h; ++l) t[l] += t[l + h];
      sums[r] = t[0];
    }
#else  // other compilers: plain dot products (deterministic, in another order than above)
    for (std::size_t r = 0; r < R; ++r) {
      sums[r] = 0;
      for (std::size_t c = 0; c < full; ++c) sums[r] += wj[c] * x[r * k + c];
    }
#endif
    for (std::size_t r = 0; r < R; ++r) {
      T v = sums[r];
      for (std::size_t c = full; c < k; ++c) v += wj[c] * x[r * k + c];
      y[r * ldy + j] = v;
    }
  }
}

// y (rows x n) = x (rows x k) W^T, rows from 1 to small_batch_max_rows, four rows per pass
// over W (the accumulators of four rows fit the 16 vector registers).
template <class T>
void small_batch_times_wt(const T* x, std::size_t rows, std::size_t k, const T* w, std::size_t n, T* y) {
  dispatch([&]() RHONET_KERNEL {
    std::size_t r = 0;
    for (; r + 4 <= rows; r += 4) rows_times_wt<4>(x + r * k, k, w, n, y + r * n, n);
    switch (rows - r) {
      case 3: rows_times_wt<3>(x + r * k, k, w, n, y + r * n, n); break;
      case 2: rows_times_wt<2>(x + r * k, k, w, n, y + r * n, n); break;
      case 1: rows_times_wt<1>(x + r * k, k, w, n, y + r * n, n); break;
      default: break;
    }
  });
}

}  // namespace rhonet::detail
