// Loops over runs of values written once for a scalar and for 8 lanes at a time (GCC's
// vector extension), for the elementwise and per-channel loops of the layers (batch_norm's
// S pixels of a channel). GCC vectorises a loop only when its cost model agrees, and with a
// ReLU's mask or a product inside a sum it did not: batch_norm's backward ran one value at a
// time and took 17 % of a Conv4-BN step (docs/performance.md). Written on lanes, the loops are
// vector code in every build, and each value still goes through the same operations in the
// same order, so results do not change.
//
// A loop body is a generic lambda taking `at`: at(p) is p's value at the current position
// (a T, or 8 consecutive values as lanes<T>), at.put(p, v) stores there. The same body
// serves both, since T and lanes<T> share the arithmetic operators (a scalar operand is
// broadcast).
#pragma once

#include <cstddef>
#include <cstring>

#include <rhonet/core/dispatch.hpp>

namespace rhonet::detail {

inline constexpr std::size_t lane_count = 8;

#if defined(__GNUC__)
#define RHONET_HAS_LANES 1
// Eight values as one GCC vector, inside a struct, passed by reference: GCC notes an ABI
// change for every function that returns a bare 32- or 64-byte vector without AVX, or takes
// a 64-byte-aligned value, even an inlined one; a returned struct has no such note.
template <class T>
struct lanes {
  typedef T vector __attribute__((vector_size(lane_count * sizeof(T))));
  vector v;
};

template <class T> RHONET_KERNEL inline lanes<T> operator+(const lanes<T>& a, const lanes<T>& b) { return {a.v + b.v}; }
template <class T> RHONET_KERNEL inline lanes<T> operator+(const lanes<T>& a, T b) { return {a.v + b}; }
template <class T> RHONET_KERNEL inline lanes<T> operator+(T a, const lanes<T>& b) { return {a + b.v}; }
template <class T> RHONET_KERNEL inline lanes<T> operator-(const lanes<T>& a, const lanes<T>& b) { return {a.v - b.v}; }
template <class T> RHONET_KERNEL inline lanes<T> operator-(const lanes<T>& a, T b) { return {a.v - b}; }
template <class T> RHONET_KERNEL inline lanes<T> operator-(T a, const lanes<T>& b) { return {a - b.v}; }
template <class T> RHONET_KERNEL inline lanes<T> operator*(const lanes<T>& a, const lanes<T>& b) { return {a.v * b.v}; }
template <class T> RHONET_KERNEL inline lanes<T> operator*(const lanes<T>& a, T b) { return {a.v * b}; }
template <class T> RHONET_KERNEL inline lanes<T> operator*(T a, const lanes<T>& b) { return {a * b.v}; }
template <class T> RHONET_KERNEL inline lanes<T>& operator+=(lanes<T>& a, const lanes<T>& b) {
  a.v += b.v;
  return a;
}

// The 8 values at p + s .. p + s + 7.
template <class T>
struct at_lanes {
  std::size_t s;
  RHONET_KERNEL lanes<T> operator()(const T* p) const {
    lanes<T> x;
    std::memcpy(&x.v, p + s, sizeof x.v);
    return x;
  }
  RHONET_KERNEL void put(T* p, const lanes<T>& x) const { std::memcpy(p + s, &x.v, sizeof x.v); }
};

// v where r > 0, else 0, lane by lane.
template <class T>
RHONET_KERNEL inline lanes<T> keep_where_positive(const lanes<T>& r, const lanes<T>& v) {
  const typename lanes<T>::vector zero = {};
  return {r.v > zero ? v.v : zero};
}
#else
#define RHONET_HAS_LANES 0
#endif

// The value at p + s.
template <class T>
struct at_value {
  std::size_t s;
  RHONET_KERNEL T operator()(const T* p) const { return p[s]; }
  RHONET_KERNEL void put(T* p, T v) const { p[s] = v; }
};

// v where r > 0, else 0 (a ReLU's mask; NaN in r gives 0).
template <class T>
RHONET_KERNEL inline T keep_where_positive(T r, T v) {
  return r > T(0) ? v : T(0);
}

// max(v, 0), with NaN giving 0 like the ReLU layer.
template <class V>
RHONET_KERNEL inline V positive_part(const V& v) {
  return keep_where_positive(v, v);
}

// f(at) for the run of `count` values from index `first`: 8 at a time, the rest one by one.
template <class T, class F>
RHONET_KERNEL inline void for_lanes(std::size_t first, std::size_t count, F&& f) {
  std::size_t s = first;
  const std::size_t end = first + count;
#if RHONET_HAS_LANES
  for (; s + lane_count <= end; s += lane_count) f(at_lanes<T>{s});
#endif
  for (; s < end; ++s) f(at_value<T>{s});
}

// The sum of f(at) over the run of `count` values from index `first`, in 8 independent
// lanes: one running sum is bound by the latency of an add (strict IEEE order keeps the
// compiler from vectorising it). Lane l adds the values at offsets l (mod 8) of the whole
// blocks in order; the sum is then: the values after the last whole block, in order, then
// lanes 0..7. Below 16 values: the values in order. The order is fixed here, so results are
// the same in every build and on every ISA copy (core/dispatch.hpp).
template <class T, class F>
RHONET_KERNEL inline T lane_sum(std::size_t first, std::size_t count, F&& f) {
  T a = 0;
  const std::size_t end = first + count;
  if (count < 2 * lane_count) {
    for (std::size_t s = first; s < end; ++s) a += f(at_value<T>{s});
    return a;
  }
  const std::size_t full = first + count / lane_count * lane_count;
#if RHONET_HAS_LANES
  lanes<T> acc = {};
  for (std::size_t s = first; s < full; s += lane_count) acc += f(at_lanes<T>{s});
#else
  struct {
    T v[lane_count];
  } acc = {};
  for (std::size_t s = first; s < full; s += lane_count)
    for (std::size_t l = 0; l < lane_count; ++l) acc.v[l] += f(at_value<T>{s + l});
#endif
  for (std::size_t s = full; s < end; ++s) a += f(at_value<T>{s});
  for (std::size_t l = 0; l < lane_count; ++l) a += acc.v[l];
  return a;
}

}  // namespace rhonet::detail
