// libFuzzer harness: the command lines of `paper` and `train_binary` (the input is split at
// NUL bytes into arguments; its first byte chooses the program). Parsing must end in options
// that satisfy every documented rule, or in a cli::usage_error; any other exception, a crash
// or a broken rule is a finding.
//
// Each program's parser is built once and reused (parse_reusing): building CLI11's App costs
// about twice the parse itself. So that reuse cannot hide or invent a finding, every 16th
// input (chosen by its content, so a run over saved inputs picks the same ones) is parsed by
// the reused parser right after a command line that gives every option a value other than
// its default, and again by a fresh parser (parse(), what the programs call): both must agree
// exactly. A value the reset misses then leaks into the first parse. Give a new option a
// value in that line (poison_*).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "paper/paper_cli.hpp"
#include "train_binary_cli.hpp"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

// --override: only with --resume, each key once, each value within its option's range.
void check_overrides(const std::vector<cli::override_value>& v, bool resume) {
  check(v.empty() || resume);
  for (std::size_t i = 0; i < v.size(); ++i) {
    const auto& o = v[i];
    check(std::isfinite(o.value));
    if (o.key == "lr") check(o.value > 0);
    else if (o.key == "momentum") check(o.value >= 0 && o.value < 1);
    else if (o.key == "wd") check(o.value >= 0);
    else if (o.key == "epochs") check(o.value >= 1 && o.value <= 1000000 && o.value == std::floor(o.value));
    else check(false);
    for (std::size_t j = 0; j < i; ++j) check(v[j].key != o.key);
  }
}

void check_paper(const paper_cli::options& o) {
  check(!o.settings.empty());
  for (const auto& s : o.settings) {
    check(s.epochs >= 1 && s.epochs <= paper_cli::max_epochs && s.batch >= 1 && s.batch <= paper_cli::max_batch);
    check(std::isfinite(s.lr) && s.lr > 0 && s.momentum >= 0 && s.momentum < 1 && std::isfinite(s.wd) && s.wd >= 0);
    check(s.arch == "fc4" || s.arch == "conv4");
    check(!(s.bn && s.wn) && (s.width == 128 || s.width == 512));
    check(!s.inits.empty() && s.inits.size() == s.init_labels.size());
    for (std::size_t i = 0; i < s.inits.size(); ++i) {
      check(std::isfinite(s.inits[i]) && s.inits[i] > 0);
      // A safe folder name: the characters of a number (an exponent may carry its sign, 1e+0).
      check(s.init_labels[i].find_first_not_of("0123456789.eE+-") == std::string::npos);
      for (std::size_t j = 0; j < i; ++j) check(s.inits[j] != s.inits[i]);
    }
  }
  check(o.classes.size() >= 2 && o.classes.size() <= 10);
  for (std::size_t i = 0; i < o.classes.size(); ++i) {
    check(o.classes[i] >= 0 && o.classes[i] <= 9);
    for (std::size_t j = 0; j < i; ++j) check(o.classes[j] != o.classes[i]);
  }
  check(o.classes.size() == 2 ? o.outputs == 1 || o.outputs == 2 : o.outputs == o.classes.size());
  bool built = false;
  for (auto n : paper_cli::compiled_outputs()) built = built || n == o.outputs;
  check(built);
  check(!o.out.empty() && !(o.overwrite && o.resume));
  check(o.fallback == 0 || (o.fallback > 0 && o.fallback < 1));
  check_overrides(o.overrides, o.resume);
}

void check_train_binary(const train_binary_cli::options& o) {
  check(o.epochs >= 1 && o.class_a <= 9 && o.class_b <= 9 && o.class_a != o.class_b);
  check(std::isfinite(o.lr) && o.lr > 0 && std::isfinite(o.wd) && o.wd >= 0 && std::isfinite(o.init) && o.init > 0);
  check(!o.out.empty() && o.checkpoint_every >= 1);
  check(!o.resume || !o.checkpoint_dir.empty());
  check(!(o.overwrite && o.resume));
  check_overrides(o.overrides, o.resume);
}

// The outcome of one parse: the options, or the usage_error's exit code and message.
template <class Options>
struct outcome {
  std::optional<Options> options;
  int code = 0;
  std::string message;
  bool operator==(const outcome&) const = default;
};

template <class Options>
outcome<Options> run(Options (*parse)(int, const char* const*), const std::vector<const char*>& argv) {
  outcome<Options> r;
  try {
    r.options = parse(int(argv.size()), argv.data());
  } catch (const cli::usage_error& e) {
    r.code = e.exit_code;
    r.message = e.what();
  }
  return r;
}

// Every option with a value other than its default (the line need not be valid as a whole:
// CLI11 stores the values before the rules between options are checked).
const std::vector<const char*> poison_paper = {
    "paper", "--experiment", "custom,plain", "--preset", "paper", "--width", "512", "--arch", "conv4", "--bn", "off",
    "--init", "2,3", "--lr", "0.3", "--fallback-lr-factor", "0.5", "--momentum", "0.5", "--wd", "0.5", "--epochs",
    "7", "--batch", "9", "--seed", "7", "--seeds", "4", "--data", "cifar10:x", "--classes", "3,8", "--outputs", "2",
    "--limit-train", "5", "--limit-test", "6", "--jobs", "3", "--threads", "2", "--out", "o2", "--resume",
    "--override", "lr=0.2", "--no-report", "--quiet"};
const std::vector<const char*> poison_train_binary = {
    "train_binary", "--epochs", "7", "--class-a", "3", "--class-b", "8", "--lr", "0.5", "--wd", "0.5", "--init", "2",
    "--threads", "2", "--limit-train", "5", "--limit-test", "6", "--out", "o2", "--checkpoint-dir", "c2",
    "--checkpoint-every", "3", "--keep-checkpoints", "4", "--resume", "--override", "lr=0.2"};

// The previous command line of each program, printed when the reused parser disagrees with a
// fresh one.
std::string previous[2];

template <class Options>
void check_reuse(const outcome<Options>& reused, Options (*fresh)(int, const char* const*),
                 const std::vector<const char*>& argv, bool paper) {
  if (reused == run(fresh, argv)) return;
  std::fprintf(stderr,
               "the reused %s parser disagrees with a fresh one after the poison line (a value its reset() "
               "misses); the %s command line before was:%s\n",
               argv[0], argv[0], previous[paper].c_str());
  __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool paper = data[0] & 1;
  std::vector<std::string> args{paper ? "paper" : "train_binary"};
  std::string cur;
  std::uint32_t hash = 2166136261u;  // FNV-1a: picks the inputs checked against a fresh parser
  for (std::size_t i = 1; i < size; ++i) {
    hash = (hash ^ data[i]) * 16777619u;
    if (data[i] == 0) {
      args.push_back(cur);
      cur.clear();
    } else {
      cur += char(data[i]);
    }
  }
  if (size > 1) args.push_back(cur);
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  const bool compare = hash % 16 == 0;
  if (paper) {
    if (compare) run(paper_cli::parse_reusing, poison_paper);
    const auto r = run(paper_cli::parse_reusing, argv);
    if (r.options) check_paper(*r.options);
    if (compare) check_reuse(r, paper_cli::parse, argv, paper);
  } else {
    if (compare) run(train_binary_cli::parse_reusing, poison_train_binary);
    const auto r = run(train_binary_cli::parse_reusing, argv);
    if (r.options) check_train_binary(*r.options);
    if (compare) check_reuse(r, train_binary_cli::parse, argv, paper);
  }
  std::string& line = previous[paper];
  line.clear();
  for (std::size_t i = 1; i < args.size(); ++i) line += " '" + args[i] + "'";
  return 0;
}
