// The BLAS run time: the kernel check (a table of CPUs and OpenBLAS core types, the warning,
// the restart decision and its loop guard), then the real thing with OpenBLAS forced onto its
// SSE3 Prescott kernels in a child program (warning once, restart once with the CPU's best
// kernels, never twice), and the thread setting. Independent of the OPENBLAS_CORETYPE of the
// environment it runs in: every child gets an environment built here.
#define BOOST_TEST_MODULE rhonet_blas_runtime
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rhonet/core/blas.hpp>
#include <rhonet/core/blas_kernels.hpp>
#include <rhonet/core/ensure_blas_kernels.hpp>
#include <rhonet/core/parallel.hpp>
#include <rhonet/core/threads.hpp>

extern char** environ;

using namespace rhonet;
using detail::cpu_features;
namespace fs = std::filesystem;
namespace utf = boost::unit_test;

namespace {

const std::string dynamic_config = "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64";

cpu_features cpu(bool amd, int level) {  // level: 0 SSE, 1 AVX, 2 AVX2+FMA, 3 AVX-512, 4 +BF16
  cpu_features f;
  f.x86 = true;
  f.amd = amd;
  f.avx = level >= 1;
  f.avx2 = f.fma = level >= 2;
  f.avx512 = level >= 3;
  f.avx512_bf16 = level >= 4;
  return f;
}

struct run_result {
  int status = -1;
  std::string out, err;
  std::size_t count(const std::string& text, const std::string& what) const {
    std::size_t n = 0;
    for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
    return n;
  }
  std::size_t starts() const { return count(out, "entered\n"); }
  // The last value printed for `key`.
  std::string value(const std::string& key) const {
    std::istringstream s(out);
    std::string v;
    for (std::string line; std::getline(s, line);)
      if (line.rfind(key + "=", 0) == 0) v = line.substr(key.size() + 1);
    return v;
  }
};

std::string read_file(const fs::path& p) {
  std::ifstream f(p);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// Runs `args` (no shell) with this process's environment minus the variables this test
// controls, plus `set`; stdout and stderr go to files.
run_result run(const std::vector<std::string>& args, const std::map<std::string, std::string>& set) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    const std::string key = kv.substr(0, kv.find('='));
    if (key == "OPENBLAS_CORETYPE" || key == detail::blas_restart_marker || key == "OPENBLAS_VERBOSE")
      continue;
    env.push_back(kv);
  }
  for (const auto& [k, v] : set) env.push_back(k + "=" + v);
  std::vector<char*> envp, argv;
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> a = args;
  for (auto& s : a) argv.push_back(s.data());
  argv.push_back(nullptr);

  static int counter = 0;
  const fs::path base = fs::temp_directory_path() /
                        ("rhonet_blas_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  const std::string out = base.string() + ".out", err = base.string() + ".err";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::runtime_error("cannot start " + args[0] + ": " + std::strerror(rc));
  run_result r;
  ::waitpid(pid, &r.status, 0);
  r.out = read_file(out);
  r.err = read_file(err);
  fs::remove(out);
  fs::remove(err);
  BOOST_TEST_MESSAGE("stdout:\n" << r.out << "stderr:\n" << r.err);
  return r;
}

const std::string probe = RHONET_BLAS_PROBE;

// One product, so that the BLAS is linked in as in any program of the library (the linker
// drops a library nothing calls, and the weak OpenBLAS symbols would then be null).
const float product = [] {
  float a = 2, b = 3, c = 0;
  blas::gemm(false, false, 1, 1, 1, 1.f, &a, 1, &b, 1, 0.f, &c, 1);
  return c;
}();

// The real test needs a CPU that can run more than Prescott and an OpenBLAS that lets
// OPENBLAS_CORETYPE choose.
boost::test_tools::assertion_result can_force_low_kernels(utf::test_unit_id) {
  boost::test_tools::assertion_result r(false);
  const std::string best = detail::best_core_type(detail::read_cpu_features());
  if (!openblas::present())
    r.message() << "skipped: the BLAS is not OpenBLAS";
  else if (!openblas::selectable_kernels())
    r.message() << "skipped: this OpenBLAS has one kernel set (no DYNAMIC_ARCH): " << openblas::config();
  else if (detail::core_tier(best) <= detail::core_tier("Prescott"))
    r.message() << "skipped: Prescott is the best OpenBLAS core type of this CPU ("
                << (best.empty() ? "not x86" : best) << ")";
  else
    return true;
  return r;
}

}  // namespace

BOOST_AUTO_TEST_CASE(best_core_type_follows_the_cpu_features) {
  BOOST_TEST(detail::best_core_type(cpu(false, 4)) == "Cooperlake");
  BOOST_TEST(detail::best_core_type(cpu(true, 4)) == "Cooperlake");  // Zen 4: OpenBLAS's choice too
  BOOST_TEST(detail::best_core_type(cpu(false, 3)) == "SkylakeX");
  BOOST_TEST(detail::best_core_type(cpu(false, 2)) == "Haswell");
  BOOST_TEST(detail::best_core_type(cpu(true, 2)) == "Zen");
  BOOST_TEST(detail::best_core_type(cpu(false, 1)) == "Sandybridge");
  BOOST_TEST(detail::best_core_type(cpu(false, 0)) == "Prescott");
  BOOST_TEST(detail::best_core_type(cpu_features{}) == "");  // not x86
  cpu_features no_fma = cpu(false, 2);
  no_fma.fma = false;
  BOOST_TEST(detail::best_core_type(no_fma) == "Sandybridge");
}

BOOST_AUTO_TEST_CASE(running_below_the_cpu_is_found_with_its_fix) {
  const auto k = detail::assess_blas_kernels("Prescott", dynamic_config, cpu(false, 4));
  BOOST_TEST(k.running == "Prescott");
  BOOST_TEST(k.best == "Cooperlake");
  BOOST_TEST(k.below_best);
  BOOST_TEST(!k.above_cpu);
  BOOST_TEST(k.selectable);
  BOOST_TEST(k.fix_hint == "export OPENBLAS_CORETYPE=Cooperlake");

  const auto zen = detail::assess_blas_kernels("Sandybridge", dynamic_config, cpu(true, 2));
  BOOST_TEST(zen.below_best);
  BOOST_TEST(zen.fix_hint == "export OPENBLAS_CORETYPE=Zen");
  BOOST_TEST(detail::assess_blas_kernels("Haswell", dynamic_config, cpu(false, 3)).below_best);
  BOOST_TEST(detail::assess_blas_kernels("Nehalem", dynamic_config, cpu(false, 1)).below_best);
}

BOOST_AUTO_TEST_CASE(the_best_kernels_or_their_equals_are_not_reported) {
  for (const auto& [running, level, amd] :
       std::vector<std::tuple<std::string, int, bool>>{{"Cooperlake", 4, false},
                                                      {"SapphireRapids", 4, false},  // newer than we name
                                                      {"SkylakeX", 3, false},
                                                      {"Haswell", 2, true},  // same instructions as Zen
                                                      {"zen", 2, true},      // any case
                                                      {"Zen", 2, false},
                                                      {"Sandybridge", 1, false},
                                                      {"Prescott", 0, false},
                                                      {"Core2", 0, false}}) {
    BOOST_TEST_CONTEXT(running << " on level " << level) {
      const auto k = detail::assess_blas_kernels(running, dynamic_config, cpu(amd, level));
      BOOST_TEST(!k.below_best);
      BOOST_TEST(!k.above_cpu);
      BOOST_TEST(k.fix_hint.empty());
      BOOST_TEST(detail::blas_kernels_warning(k, nullptr).empty());
    }
  }
}

BOOST_AUTO_TEST_CASE(kernels_the_cpu_cannot_run_are_found) {
  const auto k = detail::assess_blas_kernels("SkylakeX", dynamic_config, cpu(true, 2));
  BOOST_TEST(k.above_cpu);
  BOOST_TEST(!k.below_best);
  BOOST_TEST(k.fix_hint == "export OPENBLAS_CORETYPE=Zen");
  BOOST_TEST(detail::blas_kernels_warning(k, "SkylakeX").find("illegal instruction") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(nothing_is_compared_without_openblas_or_off_x86) {
  const auto none = detail::assess_blas_kernels("", "", cpu(false, 4));
  BOOST_TEST(none.running.empty());
  BOOST_TEST(none.best.empty());
  BOOST_TEST(!none.below_best);
  const auto arm = detail::assess_blas_kernels("NEOVERSEN1", "OpenBLAS 0.3.21 DYNAMIC_ARCH", cpu_features{});
  BOOST_TEST(arm.running == "NEOVERSEN1");
  BOOST_TEST(arm.best.empty());
  BOOST_TEST(!arm.below_best);
  BOOST_TEST(!arm.above_cpu);
  BOOST_TEST(arm.fix_hint.empty());
}

BOOST_AUTO_TEST_CASE(a_single_kernel_build_gets_a_rebuild_hint_not_a_variable) {
  const auto k = detail::assess_blas_kernels("Haswell", "OpenBLAS 0.3.21 Haswell MAX_THREADS=64", cpu(false, 3));
  BOOST_TEST(k.below_best);
  BOOST_TEST(!k.selectable);
  BOOST_TEST(k.fix_hint.find("TARGET=SKYLAKEX") != std::string::npos);
  BOOST_TEST(k.fix_hint.find("OPENBLAS_CORETYPE") == std::string::npos);
  BOOST_TEST((detail::choose_blas_fix(k, false, false) == detail::blas_fix::warn));
}

BOOST_AUTO_TEST_CASE(the_warning_names_both_kernel_sets_and_the_fix) {
  const auto k = detail::assess_blas_kernels("Prescott", dynamic_config, cpu(false, 4));
  const std::string w = detail::blas_kernels_warning(k, nullptr);
  BOOST_TEST(w.rfind("rhonet: OpenBLAS runs its Prescott kernels", 0) == 0);
  BOOST_TEST(w.find("AVX-512 with BF16") != std::string::npos);
  BOOST_TEST(w.find("its Cooperlake kernels") != std::string::npos);
  BOOST_TEST(w.find("Fix: export OPENBLAS_CORETYPE=Cooperlake before the program starts") != std::string::npos);
  BOOST_TEST(w.find("is set") == std::string::npos);
  BOOST_TEST(detail::blas_kernels_warning(k, "Prescott").find("(OPENBLAS_CORETYPE=Prescott is set)") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(restart_only_once_and_only_over_openblas_own_choice) {
  using detail::blas_fix;
  using detail::choose_blas_fix;
  const auto low = detail::assess_blas_kernels("Prescott", dynamic_config, cpu(false, 2));
  const auto fine = detail::assess_blas_kernels("Haswell", dynamic_config, cpu(false, 2));
  const auto above = detail::assess_blas_kernels("SkylakeX", dynamic_config, cpu(false, 2));
  BOOST_TEST((choose_blas_fix(low, false, false) == blas_fix::restart));
  BOOST_TEST((choose_blas_fix(low, true, false) == blas_fix::warn));   // the user's OPENBLAS_CORETYPE
  BOOST_TEST((choose_blas_fix(low, false, true) == blas_fix::warn));   // restarted already: no loop
  BOOST_TEST((choose_blas_fix(fine, false, false) == blas_fix::none));
  BOOST_TEST((choose_blas_fix(fine, false, true) == blas_fix::none));
  BOOST_TEST((choose_blas_fix(above, true, false) == blas_fix::warn));
}

#if defined(__x86_64__) || defined(__i386__)
BOOST_AUTO_TEST_CASE(cpu_features_agree_with_the_compiler_runtime) {
  const cpu_features f = detail::read_cpu_features();
  __builtin_cpu_init();
  BOOST_TEST(f.x86);
  BOOST_TEST(f.avx == bool(__builtin_cpu_supports("avx")));
  BOOST_TEST(f.avx2 == bool(__builtin_cpu_supports("avx2")));
  BOOST_TEST(f.fma == bool(__builtin_cpu_supports("fma")));
  if (f.avx512) BOOST_TEST(bool(__builtin_cpu_supports("avx512f")));
  if (!__builtin_cpu_supports("avx512f")) BOOST_TEST(!f.avx512);
  BOOST_TEST(f.amd == bool(__builtin_cpu_is("amd")));
}
#endif

BOOST_AUTO_TEST_CASE(the_script_picks_what_the_library_picks,
                     *utf::precondition([](utf::test_unit_id) { return fs::exists("/proc/cpuinfo"); })) {
  const auto r = run({"/bin/bash", RHONET_SOURCE_DIR "/scripts/blas-coretype.sh"}, {});
  BOOST_TEST_REQUIRE(WIFEXITED(r.status));
  BOOST_TEST(WEXITSTATUS(r.status) == 0);
  std::string best = detail::best_core_type(detail::read_cpu_features());
  if (best == "Prescott") best.clear();  // the script leaves OpenBLAS's choice alone
  BOOST_TEST(r.out == (best.empty() ? "" : best + "\n"));
}

BOOST_AUTO_TEST_CASE(this_process_reports_openblas,
                     *utf::precondition([](utf::test_unit_id) { return openblas::present(); })) {
  const blas_kernels k = blas_kernels_status();
  BOOST_TEST(k.running == std::string(openblas_get_corename()));
  BOOST_TEST(!k.running.empty());
  BOOST_TEST(k.config.rfind("OpenBLAS", 0) == 0);
  BOOST_TEST(product == 6.f);
}

// (a) and (b): OpenBLAS forced onto Prescott; a program's check finds it and warns once.
BOOST_AUTO_TEST_CASE(forced_prescott_is_reported_once_with_the_fix, *utf::precondition(can_force_low_kernels)) {
  const auto cpu_now = detail::read_cpu_features();
  const std::string best = detail::best_core_type(cpu_now);
  const auto r = run({probe, "check"}, {{"OPENBLAS_CORETYPE", "Prescott"}});
  BOOST_TEST_REQUIRE(WIFEXITED(r.status));
  BOOST_TEST(WEXITSTATUS(r.status) == 0);
  BOOST_TEST(r.value("running") == "Prescott");
  BOOST_TEST(r.value("best") == best);
  BOOST_TEST(r.value("below_best") == "1");
  BOOST_TEST(r.value("product") == "6");
  const std::string expected =
      detail::blas_kernels_warning(detail::assess_blas_kernels("Prescott", openblas::config(), cpu_now), "Prescott");
  BOOST_TEST(expected.find("export OPENBLAS_CORETYPE=" + best) != std::string::npos);
  BOOST_TEST(r.err == expected + "\n");  // exactly once, though the probe checks twice
}

// A user's OPENBLAS_CORETYPE is respected: a warning, no restart.
BOOST_AUTO_TEST_CASE(a_chosen_core_type_is_not_overridden, *utf::precondition(can_force_low_kernels)) {
  const auto r = run({probe, "ensure"}, {{"OPENBLAS_CORETYPE", "Prescott"}});
  BOOST_TEST(WIFEXITED(r.status));
  BOOST_TEST(r.starts() == 1u);
  BOOST_TEST(r.value("running") == "Prescott");
  BOOST_TEST(r.err.find("restarting") == std::string::npos);
  BOOST_TEST(r.err.find("Fix: export OPENBLAS_CORETYPE=") != std::string::npos);
}

// (c): kernels below the CPU's with the variable unset (OpenBLAS's own choice): one restart
// onto the best kernels, and the restarted program neither restarts nor warns.
BOOST_AUTO_TEST_CASE(ensure_restarts_once_onto_the_best_kernels, *utf::precondition(can_force_low_kernels)) {
  const std::string best = detail::best_core_type(detail::read_cpu_features());
  const auto r = run({probe, "ensure", "--unset"}, {{"OPENBLAS_CORETYPE", "Prescott"}});
  BOOST_TEST_REQUIRE(WIFEXITED(r.status));
  BOOST_TEST(WEXITSTATUS(r.status) == 0);
  BOOST_TEST(r.starts() == 2u);
  BOOST_TEST(r.value("coretype_env") == best);  // what the restarted program was given
  BOOST_TEST(detail::core_tier(r.value("running")) == detail::core_tier(best));
  BOOST_TEST(r.value("below_best") == "0");
  BOOST_TEST(r.value("marker") == "(unset)");  // not passed on to the program's own children
  BOOST_TEST(r.count(r.err, "restarting with OPENBLAS_CORETYPE=" + best + "\n") == 1u);
  BOOST_TEST(r.err.find("Fix:") == std::string::npos);
}

// The loop guard: a restarted program that still runs below the CPU warns instead of
// restarting again.
BOOST_AUTO_TEST_CASE(a_restarted_program_never_restarts_again, *utf::precondition(can_force_low_kernels)) {
  const auto r = run({probe, "ensure", "--unset"},
                     {{"OPENBLAS_CORETYPE", "Prescott"}, {detail::blas_restart_marker, "1"}});
  BOOST_TEST_REQUIRE(WIFEXITED(r.status));
  BOOST_TEST(WEXITSTATUS(r.status) == 0);
  BOOST_TEST(r.starts() == 1u);
  BOOST_TEST(r.value("running") == "Prescott");
  BOOST_TEST(r.err.find("restarting") == std::string::npos);
  BOOST_TEST(r.err.find("the restart did not change OpenBLAS's kernels") != std::string::npos);
  BOOST_TEST(r.err.find("Fix: export OPENBLAS_CORETYPE=") != std::string::npos);
}

// Whatever OpenBLAS picks by itself here, a program ends up on kernels as good as the CPU's.
BOOST_AUTO_TEST_CASE(ensure_ends_on_the_best_kernels_from_a_clean_environment,
                     *utf::precondition([](utf::test_unit_id) { return openblas::present(); })) {
  const auto r = run({probe, "ensure"}, {});
  BOOST_TEST_REQUIRE(WIFEXITED(r.status));
  BOOST_TEST(WEXITSTATUS(r.status) == 0);
  BOOST_TEST(r.starts() <= 2u);
  if (openblas::selectable_kernels()) BOOST_TEST(r.value("below_best") == "0");
}

// rhonet runs the GEMMs' threads itself (core/blas.hpp): OpenBLAS stays on one thread.
BOOST_AUTO_TEST_CASE(set_threads_governs_threads_and_keeps_openblas_on_one,
                     *utf::precondition([](utf::test_unit_id) { return openblas::present(); })) {
  const int before = threads();
  BOOST_TEST(before >= 1);
  set_threads(1);
  BOOST_TEST(threads() == 1);
  BOOST_TEST(openblas::num_threads() == 1);
  set_threads(3);
  BOOST_TEST(threads() == 3);
  BOOST_TEST(openblas::num_threads() == 1);
  set_threads(before);
  BOOST_TEST(threads() == before);
}

namespace {
// C = op(A) op(B) with threads() threads, against the product summed in double: every entry
// within 1e-5 of the sum of its terms' magnitudes (rounding of float sums in any order).
void check_gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, int thread_count) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  std::vector<float> a(m * k), b(k * n), c(m * n, 7.f);
  for (auto& v : a) v = normal(rng);
  for (auto& v : b) v = normal(rng);
  const std::size_t lda = ta ? m : k, ldb = tb ? k : n;
  set_threads(thread_count);
  blas::gemm<float>(ta, tb, m, n, k, 1.f, a.data(), lda, b.data(), ldb, 0.f, c.data(), n);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      double want = 0, size = 0;
      for (std::size_t l = 0; l < k; ++l) {
        const double t = double(ta ? a[l * lda + i] : a[i * lda + l]) * double(tb ? b[j * ldb + l] : b[l * ldb + j]);
        want += t;
        size += std::abs(t);
      }
      bad += !(std::abs(c[i * n + j] - want) <= 1e-5 * size);
    }
  BOOST_TEST(bad == 0u, "op(A) " << (ta ? "T" : "N") << ", op(B) " << (tb ? "T" : "N") << ", " << m << "x" << n
                                 << "x" << k << ", " << thread_count << " threads");
}
}  // namespace

// Products large enough to be cut into a block per thread, along columns (n >= m) and rows,
// with every transposition, and an odd thread count whose cuts fall off the 16-wide grid.
BOOST_AUTO_TEST_CASE(gemm_cut_between_threads_is_the_product) {
  const int before = threads();
  for (int t : {1, 2, 3})
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        check_gemm(ta, tb, 24, 3000, 48, t);   // cut along n
        check_gemm(ta, tb, 2500, 20, 64, t);   // cut along m
        check_gemm(ta, tb, 100, 50, 300, t);   // too small to cut
      }
  set_threads(before);
}

// A GEMM called from inside a parallel loop's part runs on that thread (no deadlock, the
// right product).
BOOST_AUTO_TEST_CASE(gemm_inside_a_parallel_part) {
  const int before = threads();
  set_threads(2);
  std::vector<float> a(64 * 64, 1.f), b(64 * 4096, 2.f), c(2 * 64 * 4096, 0.f);
  detail::parallel_for(2 * detail::parallel_grain, detail::parallel_grain, [&](std::size_t s0, std::size_t) {
    float* out = c.data() + (s0 == 0 ? 0 : 64 * 4096);
    blas::gemm<float>(false, false, 64, 4096, 64, 1.f, a.data(), 64, b.data(), 4096, 0.f, out, 4096);
  });
  BOOST_TEST(std::count(c.begin(), c.end(), 128.f) == std::ptrdiff_t(c.size()));
  set_threads(before);
}

BOOST_AUTO_TEST_CASE(set_threads_rejects_counts_below_one) {
  const int before = threads();
  for (int n : {0, -3}) {
    try {
      set_threads(n);
      BOOST_ERROR("set_threads(" << n << ") did not throw");
    } catch (const std::invalid_argument& e) {
      BOOST_TEST(std::string(e.what()).find("got " + std::to_string(n)) != std::string::npos);
    }
  }
  BOOST_TEST(threads() == before);
}
