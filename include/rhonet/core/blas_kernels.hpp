// Is OpenBLAS running the best kernels this CPU can run? A DYNAMIC_ARCH OpenBLAS (Debian's)
// picks its kernel set ("core type") from the CPU model at load time; on a model it does
// not know it can fall back to its SSE3 `Prescott` kernels, 3-4x slower than the AVX2 or
// AVX-512 ones, and says nothing. This header compares OpenBLAS's choice with the CPU's
// features and names the fix (OPENBLAS_CORETYPE, read by OpenBLAS only when it loads).
// include/rhonet/core/ensure_blas_kernels.hpp applies the fix for a program.
#pragma once

#include <array>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <rhonet/core/openblas_runtime.hpp>

namespace rhonet {

// What check_blas_kernels() found. Empty strings mean "unknown": `running` when the BLAS is
// not OpenBLAS, `best` also when the CPU is not x86 (OpenBLAS's choice is then trusted).
struct blas_kernels {
  std::string running;      // openblas_get_corename(), e.g. "Prescott"
  std::string best;         // the best OpenBLAS core type for this CPU, e.g. "Cooperlake"
  bool below_best = false;  // `running` is an older instruction set than `best`
  bool above_cpu = false;   // `running` needs instructions this CPU lacks (a wrong OPENBLAS_CORETYPE)
  bool selectable = false;  // OPENBLAS_CORETYPE can change the kernels (a DYNAMIC_ARCH build)
  std::string fix_hint;     // e.g. "export OPENBLAS_CORETYPE=Zen"; empty when nothing to fix
  std::string config;       // openblas_get_config()
};

namespace detail {

// The CPU features OpenBLAS's x86-64 kernel sets need, each usable only when the OS saves
// the registers it uses (XCR0), as OpenBLAS itself checks.
struct cpu_features {
  bool x86 = false;
  bool amd = false;  // AMD or Hygon: OpenBLAS names its AVX2 kernels for them "Zen"
  bool avx = false, fma = false, avx2 = false;
  bool avx512 = false;  // F, CD, BW, DQ and VL: OpenBLAS's SkylakeX kernels
  bool avx512_bf16 = false;
};

inline cpu_features read_cpu_features() {
  cpu_features f;
#if defined(__x86_64__) || defined(__i386__)
  f.x86 = true;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return f;
  const unsigned max_leaf = a;
  const std::array<unsigned, 3> vendor{b, d, c};
  char name[13] = {};
  for (int i = 0; i < 12; ++i) name[i] = char(vendor[i / 4] >> (8 * (i % 4)));
  f.amd = std::string_view(name) == "AuthenticAMD" || std::string_view(name) == "HygonGenuine";

  __get_cpuid(1, &a, &b, &c, &d);
  const bool osxsave = c & (1u << 27);
  unsigned long long xcr0 = 0;
  if (osxsave) {
    unsigned lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    xcr0 = (static_cast<unsigned long long>(hi) << 32) | lo;
  }
  const bool ymm_saved = (xcr0 & 0x6) == 0x6;    // SSE and AVX state
  const bool zmm_saved = (xcr0 & 0xe6) == 0xe6;  // plus opmask and both ZMM halves
  f.avx = (c & (1u << 28)) && ymm_saved;
  f.fma = f.avx && (c & (1u << 12));
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    const unsigned leaf7_max_sub = a;
    f.avx2 = f.avx && (b & (1u << 5));
    const unsigned need = (1u << 16) | (1u << 17) | (1u << 28) | (1u << 30) | (1u << 31);
    f.avx512 = f.avx2 && zmm_saved && (b & need) == need;
    if (leaf7_max_sub >= 1) {
      __cpuid_count(7, 1, a, b, c, d);
      f.avx512_bf16 = f.avx512 && (a & (1u << 5));
    }
  }
#endif
  return f;
}

// The newest OpenBLAS core type the CPU can run; empty off x86. "Prescott" (SSE3) is the
// generic one: nothing can run below it, so it is never reported as a problem.
inline std::string best_core_type(const cpu_features& f) {
  if (!f.x86) return "";
  if (f.avx512 && f.avx512_bf16) return "Cooperlake";
  if (f.avx512) return "SkylakeX";
  if (f.avx2 && f.fma) return f.amd ? "Zen" : "Haswell";
  if (f.avx) return "Sandybridge";
  return "Prescott";
}

inline bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

// The instruction-set tier of an OpenBLAS x86 core type (the names openblas_get_corename
// returns); -1 for names of other architectures, which are never compared.
inline int core_tier(std::string_view name) {
  static constexpr std::pair<std::string_view, int> tiers[] = {
      {"Katmai", 0},      {"Coppermine", 0},   {"Northwood", 0},   {"Prescott", 0},
      {"Banias", 0},      {"Athlon", 0},       {"Opteron", 0},     {"Opteron_SSE3", 0},
      {"Atom", 1},        {"Core2", 1},        {"Penryn", 1},      {"Dunnington", 1},
      {"Nehalem", 1},     {"Barcelona", 1},    {"Nano", 1},        {"Bobcat", 1},
      {"Sandybridge", 2}, {"Bulldozer", 2},    {"Piledriver", 2},  {"Steamroller", 2},
      {"Excavator", 2},   {"Haswell", 3},      {"Zen", 3},         {"SkylakeX", 4},
      {"Cooperlake", 5},  {"SapphireRapids", 6}};
  for (const auto& [n, t] : tiers)
    if (iequal(n, name)) return t;
  return -1;
}

inline const char* tier_features(int tier) {
  switch (tier) {
    case 2: return "AVX";
    case 3: return "AVX2 and FMA";
    case 4: return "AVX-512";
    case 5: return "AVX-512 with BF16";
    default: return "SSE";
  }
}

inline std::string upper(std::string s) {
  for (char& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// The comparison, from its inputs alone (tested on a table of CPUs and core names).
inline blas_kernels assess_blas_kernels(std::string_view running, std::string_view config,
                                        const cpu_features& cpu) {
  blas_kernels k;
  k.running = running;
  k.config = config;
  if (running.empty()) return k;  // not OpenBLAS: nothing to compare
  k.best = best_core_type(cpu);
  k.selectable = config.find("DYNAMIC_ARCH") != std::string_view::npos;
  const int have = core_tier(running), can = core_tier(k.best);
  if (have < 0 || can < 0) return k;
  k.below_best = have < can;
  // Judged only for sets that need AVX or more (the SSE levels are not read from the CPU)
  // and below the top tier named here (a newer OpenBLAS may know newer sets).
  k.above_cpu = have > can && have >= core_tier("Sandybridge") && can < core_tier("Cooperlake");
  if (k.below_best || k.above_cpu) {
    k.fix_hint = k.selectable ? "export OPENBLAS_CORETYPE=" + k.best
                              : "use a DYNAMIC_ARCH build of OpenBLAS (Debian's libopenblas0-pthread) "
                                "or one built with TARGET=" + upper(k.best);
  }
  return k;
}

// The warning for `k`, one paragraph; empty when the kernels are right. `env_coretype` is
// the value of OPENBLAS_CORETYPE, or null when it is unset.
inline std::string blas_kernels_warning(const blas_kernels& k, const char* env_coretype) {
  if (!k.below_best && !k.above_cpu) return "";
  std::string m = "rhonet: OpenBLAS runs its " + k.running + " kernels";
  if (env_coretype) m += std::string(" (OPENBLAS_CORETYPE=") + env_coretype + " is set)";
  const char* features = tier_features(core_tier(k.best));
  if (k.below_best)
    m += ", but this CPU has " + std::string(features) + " and can run its " + k.best +
         " kernels; matrix products run up to several times slower.";
  else
    m += ", which need instructions this CPU lacks (it has up to " + std::string(features) +
         "): expect a crash with an illegal instruction.";
  m += " Fix: " + k.fix_hint;
  if (k.selectable) m += " before the program starts (OpenBLAS reads it only when it loads)";
  m += ".";
  return m;
}

}  // namespace detail

// The kernels OpenBLAS runs in this process, and the best ones this CPU supports.
inline blas_kernels blas_kernels_status() {
  return detail::assess_blas_kernels(openblas::corename(), openblas::config(),
                                     detail::read_cpu_features());
}

// blas_kernels_status(), and the first time it finds wrong kernels in this process, a
// warning on stderr that names the fix. Never throws for a wrong choice: the program still
// computes the right numbers, only slower (or, above the CPU, it was told to crash).
inline blas_kernels check_blas_kernels() {
  static std::atomic<bool> warned{false};
  blas_kernels k = blas_kernels_status();
  const std::string w = detail::blas_kernels_warning(k, std::getenv("OPENBLAS_CORETYPE"));
  if (!w.empty() && !warned.exchange(true)) std::fprintf(stderr, "%s\n", w.c_str());
  return k;
}

}  // namespace rhonet
