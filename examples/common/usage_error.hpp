// A command line that is not run: --help (exit 0, the help text on stdout) or a mistake
// (exit 2, "<program>: <message>" on stderr). The programs' command-line units throw it, so
// that the rest of a program never includes CLI11 (the heaviest header of the examples).
#pragma once

#include <cstdio>
#include <stdexcept>
#include <string>

namespace cli {

inline constexpr int usage_error_exit = 2;

struct usage_error : std::runtime_error {
  int exit_code;  // 0 for --help, usage_error_exit otherwise
  usage_error(int code, const std::string& text) : std::runtime_error(text), exit_code(code) {}
};

// Prints it and returns its exit code.
inline int usage_exit(const usage_error& e, const char* program) {
  if (e.exit_code == 0) {
    std::fputs(e.what(), stdout);
    return 0;
  }
  std::fprintf(stderr, "%s: %s\nRun with --help for more information.\n", program, e.what());
  return e.exit_code;
}

}  // namespace cli
