// The BLAS bridge: GEMM and GEMV on raw row-major pointers through xtensor-blas's CBLAS binding
// (cxxblas, bundled with xtensor-blas), so that sub-blocks of preallocated buffers can be
// multiplied without the copies xt::blas::gemm makes of views.
//
// A large GEMM is cut into one block of C per thread of rhonet::threads(), each block a
// single-threaded BLAS call on rhonet's own pool (core/parallel.hpp), the pool that runs every
// other loop of a step; OpenBLAS itself runs on one thread (core/threads.hpp). Its own threads
// spun in sched_yield next to rhonet's loops after every GEMM. The cut is the same on every
// call, so runs stay deterministic. With OpenBLAS's AVX-512 kernels each entry of C is also
// summed as in one call, so results do not depend on the thread count; its Haswell kernels
// differ in the last bits (docs/performance.md, "Threads and OpenBLAS"). test_blas_runtime
// checks the cut product against a sum in double.
#pragma once

#include <algorithm>
#include <cstddef>

#include <xtensor-blas/xblas.hpp>

#include <rhonet/core/parallel.hpp>
#include <rhonet/core/threads.hpp>

namespace rhonet::blas {

namespace detail {

// A block of a cut GEMM has more multiply-adds than this: OpenBLAS multiplies products of up
// to 10^6 of them with its small-matrix kernels on AVX-512 cores, which sum k in another order
// than its blocked kernels, so a smaller block would change the bytes. It is also about 20 us
// of work, against a few microseconds to wake a worker.
inline constexpr std::size_t split_min_madds = 1000000;
// Blocks start on multiples of this many rows or columns: whole register tiles of the kernels.
inline constexpr std::size_t split_align = 16;

// Whether large GEMMs are cut between threads at all. Tests turn it off to compare rhonet's
// other loops across thread counts on kernels whose cut products round differently.
inline bool cut_gemms = true;

template <class T>
inline void gemm_one(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, T alpha,
                     const T* a, std::size_t lda, const T* b, std::size_t ldb, T beta, T* c,
                     std::size_t ldc) {
  using cxxblas::StorageOrder;
  using cxxblas::Transpose;
  cxxblas::gemm<xt::blas_index_t>(
      StorageOrder::RowMajor, trans_a ? Transpose::Trans : Transpose::NoTrans,
      trans_b ? Transpose::Trans : Transpose::NoTrans, static_cast<xt::blas_index_t>(m),
      static_cast<xt::blas_index_t>(n), static_cast<xt::blas_index_t>(k), alpha, a,
      static_cast<xt::blas_index_t>(lda), b, static_cast<xt::blas_index_t>(ldb), beta, c,
      static_cast<xt::blas_index_t>(ldc));
}

}  // namespace detail

// C (m x n) = alpha * op(A) * op(B) + beta * C, all row-major; op(A) is m x k.
template <class T>
inline void gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, T alpha,
                 const T* a, std::size_t lda, const T* b, std::size_t ldb, T beta, T* c,
                 std::size_t ldc) {
  rhonet::detail::take_over_blas_threads();
  // Cut the longer side of C: each block packs all of the other operand again, so the shorter
  // side's operand is the one copied twice.
  const bool by_columns = n >= m;
  const std::size_t side = by_columns ? n : m;
  const std::size_t blocks =
      std::min<std::size_t>(static_cast<std::size_t>(threads()), side / detail::split_align);
  // Block i is [cut(i), cut(i + 1)) along the side; every block must stay above the limit.
  const auto cut = [&](std::size_t i) {
    return i == blocks ? side : side * i / blocks / detail::split_align * detail::split_align;
  };
  std::size_t smallest = side;
  for (std::size_t i = 0; i < blocks; ++i) smallest = std::min(smallest, cut(i + 1) - cut(i));
  if (!detail::cut_gemms || blocks <= 1 || smallest * (m * n / side) * k <= detail::split_min_madds) {
    detail::gemm_one(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  const auto block = [&](std::size_t i) {
    const std::size_t lo = cut(i), hi = cut(i + 1);
    if (by_columns)  // columns [lo, hi) of op(B) and of C
      detail::gemm_one(trans_a, trans_b, m, hi - lo, k, alpha, a, lda, trans_b ? b + lo * ldb : b + lo, ldb, beta,
                       c + lo, ldc);
    else  // rows [lo, hi) of op(A) and of C
      detail::gemm_one(trans_a, trans_b, hi - lo, n, k, alpha, trans_a ? a + lo : a + lo * lda, lda, b, ldb, beta,
                       c + lo * ldc, ldc);
  };
  const rhonet::detail::part_job job{&block, [](const void* f, std::size_t i) { (*static_cast<decltype(&block)>(f))(i); }};
  if (!rhonet::detail::thread_pool::instance().try_run(blocks, job))
    for (std::size_t i = 0; i < blocks; ++i) block(i);  // the pool is busy: the same blocks, here
}

// y (m) = alpha * op(A) * x + beta * y, A row-major m x n (op(A) = A^T: y has n entries).
// A product with one row, where GEMM would pack the whole of A first (OpenBLAS 0.3.21 does not
// hand such products to GEMV itself): a batch of one streams the weights once.
template <class T>
inline void gemv(bool trans_a, std::size_t m, std::size_t n, T alpha, const T* a, std::size_t lda,
                 const T* x, T beta, T* y) {
  rhonet::detail::take_over_blas_threads();
  cxxblas::gemv<xt::blas_index_t>(cxxblas::StorageOrder::RowMajor,
                                  trans_a ? cxxblas::Transpose::Trans : cxxblas::Transpose::NoTrans,
                                  static_cast<xt::blas_index_t>(m), static_cast<xt::blas_index_t>(n),
                                  alpha, a, static_cast<xt::blas_index_t>(lda), x, 1, beta, y, 1);
}

}  // namespace rhonet::blas
