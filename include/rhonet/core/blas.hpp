// The BLAS bridge: GEMM and GEMV on raw row-major pointers through xtensor-blas's CBLAS binding
// (cxxblas, bundled with xtensor-blas), so that sub-blocks of preallocated buffers can be
// multiplied without the copies xt::blas::gemm makes of views.
#pragma once

#include <cstddef>

#include <xtensor-blas/xblas.hpp>

namespace rhonet::blas {

// C (m x n) = alpha * op(A) * op(B) + beta * C, all row-major; op(A) is m x k.
template <class T>
inline void gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, T alpha,
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

// y (m) = alpha * op(A) * x + beta * y, A row-major m x n (op(A) = A^T: y has n entries).
// A product with one row, where GEMM would pack the whole of A first (OpenBLAS 0.3.21 does not
// hand such products to GEMV itself): a batch of one streams the weights once.
template <class T>
inline void gemv(bool trans_a, std::size_t m, std::size_t n, T alpha, const T* a, std::size_t lda,
                 const T* x, T beta, T* y) {
  cxxblas::gemv<xt::blas_index_t>(cxxblas::StorageOrder::RowMajor,
                                  trans_a ? cxxblas::Transpose::Trans : cxxblas::Transpose::NoTrans,
                                  static_cast<xt::blas_index_t>(m), static_cast<xt::blas_index_t>(n),
                                  alpha, a, static_cast<xt::blas_index_t>(lda), x, 1, beta, y, 1);
}

}  // namespace rhonet::blas
