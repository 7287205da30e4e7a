// The validated option layer of the example programs, on CLI11: every value is checked as a
// whole (no sign wrapping, no overflow, no trailing junk, no hex), every number against the
// range it may have, every list for empty and repeated items; a bad value is a
// CLI::ValidationError whose message names the flag, the value and what is allowed:
//     --epochs: expected a whole number from 1 to 1000000, got '-1'
// A program's command-line unit turns any CLI::ParseError into a cli::usage_error
// (usage_error.hpp): that message and exit code 2.
#pragma once

#include <CLI/CLI.hpp>

#include "override.hpp"
#include "usage_error.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace cli {


// A decimal whole number: digits only, no sign, no overflow of 64 bits.
inline std::optional<std::uint64_t> parse_whole(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 10);
  if (ec != std::errc{} || end != s.data() + s.size() || s.front() == '-' || s.front() == '+')
    return std::nullopt;
  return v;
}

// A decimal number (12, 0.5, 1e-3): all of the text, no hex, within double's range.
inline std::optional<double> parse_real(std::string_view s) {
  if (s.empty() || s.front() == '+') return std::nullopt;
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, std::chars_format::general);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// The range of a real-valued option; lo/hi may be open, hi may be infinite (no bound).
struct real_range {
  double lo = -std::numeric_limits<double>::infinity();
  bool lo_open = false;
  double hi = std::numeric_limits<double>::infinity();
  bool hi_open = false;

  bool contains(double v) const {
    return std::isfinite(v) && (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
  }
  std::string describe() const {
    auto num = [](double x) {
      char b[32];
      std::snprintf(b, sizeof b, "%g", x);
      return std::string(b);
    };
    if (std::isinf(hi)) return std::string("a finite number ") + (lo_open ? "> " : ">= ") + num(lo);
    return std::string("a number in ") + (lo_open ? "(" : "[") + num(lo) + ", " + num(hi) + (hi_open ? ")" : "]");
  }
};

inline real_range positive() { return {0, true}; }
inline real_range non_negative() { return {0, false}; }

inline std::string quote(std::string_view s) { return "'" + std::string(s) + "'"; }

inline std::string whole_description(std::uint64_t lo, std::uint64_t hi) {
  return "a whole number from " + std::to_string(lo) + " to " + std::to_string(hi);
}

// Checks: a whole number in [lo, hi].
inline CLI::Validator whole(std::uint64_t lo, std::uint64_t hi) {
  const std::string what = whole_description(lo, hi);
  return CLI::Validator(
      [lo, hi, what](std::string& s) -> std::string {
        const auto v = parse_whole(s);
        if (!v || *v < lo || *v > hi) return "expected " + what + ", got " + quote(s);
        return {};
      },
      "INT in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
}

// Checks: a finite number in `r`.
inline CLI::Validator real(real_range r) {
  return CLI::Validator(
      [r](std::string& s) -> std::string {
        const auto v = parse_real(s);
        if (!v || !r.contains(*v)) return "expected " + r.describe() + ", got " + quote(s);
        return {};
      },
      "");
}

// Checks: not empty (a folder name).
inline CLI::Validator non_empty_path() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        if (s.empty()) return "expected a folder name, got an empty string";
        return {};
      },
      "");
}

// Comma-separated items, none empty, none repeated; `what` names the items in messages.
// Returns the items or an error message.
inline std::vector<std::string> split_items(const std::string& text, std::string& error, const char* what) {
  std::vector<std::string> items;
  error.clear();
  if (text.empty()) {
    error = std::string("expected a comma-separated list of ") + what + ", got an empty string";
    return {};
  }
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (item.empty()) {
      error = std::string("expected a comma-separated list of ") + what + ", got an empty item in " + quote(text);
      return {};
    }
    items.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return items;
}

// Checks: a comma-separated list of members of `allowed`, none repeated.
inline CLI::Validator member_list(std::vector<std::string> allowed) {
  std::string names;
  for (const auto& a : allowed) names += (names.empty() ? "" : ", ") + a;
  return CLI::Validator(
      [allowed, names](std::string& s) -> std::string {
        std::string err;
        const auto items = split_items(s, err, names.c_str());
        if (!err.empty()) return err;
        std::set<std::string> seen;
        for (const auto& it : items) {
          if (std::find(allowed.begin(), allowed.end(), it) == allowed.end())
            return "expected one or more of " + names + ", got " + quote(it);
          if (!seen.insert(it).second) return quote(it) + " is given twice in " + quote(s);
        }
        return {};
      },
      "");
}

// Checks: a comma-separated list of numbers in `r`, no two equal (1 and 1.0 are equal).
// Items are used as they are written in folder names, so nothing but a number passes.
inline CLI::Validator real_list(real_range r) {
  return CLI::Validator(
      [r](std::string& s) -> std::string {
        std::string err;
        const auto items = split_items(s, err, "numbers");
        if (!err.empty()) return err;
        std::vector<std::pair<double, std::string>> seen;
        for (const auto& it : items) {
          const auto v = parse_real(it);
          if (!v || !r.contains(*v)) return "expected " + r.describe() + " for each item, got " + quote(it);
          for (const auto& [x, text] : seen)
            if (x == *v)
              return text == it ? quote(it) + " is given twice"
                                : quote(text) + " and " + quote(it) + " are the same value";
          seen.emplace_back(*v, it);
        }
        return {};
      },
      "");
}

// Parses a list validated by real_list.
inline std::vector<double> reals(const std::string& s) {
  std::string err;
  std::vector<double> out;
  for (const auto& it : split_items(s, err, "numbers")) out.push_back(*parse_real(it));
  return out;
}

// --override KEY=VALUE (override.hpp): the keys, the rule for each value, and why the
// fields that define a run cannot be overridden.
inline std::string parse_override(const std::string& s, override_value& out) {
  const auto eq = s.find('=');
  const std::string key = s.substr(0, eq == std::string::npos ? s.size() : eq);
  static const std::pair<const char*, const char*> fixed[] = {
      {"seed", "it fixes the initialisation and the order of the batches"},
      {"batch", "a checkpoint's place in its epoch is counted in batches of that size"},
      {"init", "it is the run's starting point"},
      {"data", "it defines the data the run trains on"},
      {"classes", "it defines the data the run trains on"},
      {"class-a", "it defines the data the run trains on"},
      {"class-b", "it defines the data the run trains on"},
      {"limit-train", "it defines the data the run trains on"},
      {"limit-test", "it defines the data the run is measured on"},
      {"outputs", "it defines the network and the targets"},
      {"arch", "it defines the network"},
      {"bn", "it defines the network"},
      {"width", "it defines the network"},
      {"experiment", "it chooses the runs"},
      {"preset", "it chooses the runs"}};
  for (const auto& [name, why] : fixed)
    if (key == name)
      return key + " cannot change when a run resumes (" + why + "); start a new run in another --out instead";
  const std::string expected = "expected KEY=VALUE with KEY one of lr, momentum, wd, epochs, got " + quote(s);
  if (eq == std::string::npos) return expected;
  const std::string value = s.substr(eq + 1);
  const auto check_real = [&](real_range r) -> std::string {
    const auto v = parse_real(value);
    if (!v || !r.contains(*v)) return key + ": expected " + r.describe() + ", got " + quote(value);
    out = {key, *v};
    return {};
  };
  if (key == "lr") return check_real(positive());
  if (key == "momentum") return check_real({0, false, 1, true});
  if (key == "wd") return check_real(non_negative());
  if (key == "epochs") {
    const auto v = parse_whole(value);
    if (!v || *v < 1 || *v > 1000000) return key + ": expected " + whole_description(1, 1000000) + ", got " + quote(value);
    out = {key, double(*v)};
    return {};
  }
  return expected;
}

// Checks: one --override item.
inline CLI::Validator override_item() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        override_value v;
        return parse_override(s, v);
      },
      "");
}

// The --override items (each checked by override_item()); a key given twice is an error.
inline std::vector<override_value> overrides(const std::vector<std::string>& items) {
  std::vector<override_value> out;
  for (const std::string& s : items) {
    override_value v;
    parse_override(s, v);
    for (const override_value& o : out)
      if (o.key == v.key) throw CLI::ValidationError("--override", v.key + " is given twice");
    out.push_back(v);
  }
  return out;
}

// The usage_error of a parse error: the help text for --help, the message otherwise.
inline usage_error as_usage_error(const CLI::App& app, const CLI::ParseError& e) {
  if (e.get_exit_code() == 0) return usage_error(0, app.help());
  return usage_error(usage_error_exit, e.what());
}

// Parses with `p` (app() and parse(argc, argv), which throws CLI::ParseError) and turns a
// parse error into a usage_error.
template <class Parser>
auto parse_in(Parser& p, int argc, const char* const* argv) {
  try {
    return p.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    throw as_usage_error(p.app(), e);
  }
}

// A program's parse(): builds its Parser and parses with it.
template <class Parser>
auto parse_with(int argc, const char* const* argv) {
  Parser p;
  return parse_in(p, argc, argv);
}

// The same with one Parser for every call (not thread-safe), for callers that parse many
// command lines (fuzz/cli.cpp): building CLI11's App is most of the cost of a parse. Each
// call first resets the values the options write into (Parser::reset()); CLI11 clears its
// own record of the previous parse when parse() is called again.
template <class Parser>
auto parse_reusing(int argc, const char* const* argv) {
  static Parser p;
  p.reset();
  return parse_in(p, argc, argv);
}

}  // namespace cli
