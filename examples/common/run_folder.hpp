// The output folder of a program run has an owner. A run writes only into a new or empty
// folder, or into one that an earlier run of the same program wrote, and then only when told
// what to do with it (--overwrite replaces it, --resume continues it); while it runs it holds
// the folder's lock (rhonet/io/folder_lock.hpp), so a second writer is refused at once.
#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>
#include <rhonet/io/folder_lock.hpp>

namespace run_folder {

namespace fs = std::filesystem;

enum class mode { fresh, overwrite, resume };

// The mode a program's --overwrite and --resume flags ask for (the CLIs make them exclusive).
inline mode mode_of(bool overwrite, bool resume) {
  return overwrite ? mode::overwrite : resume ? mode::resume : mode::fresh;
}

struct claim {
  rhonet::folder_lock lock;
  bool had_run = false;    // the folder holds an earlier run of this program
  nlohmann::json manifest;  // that run's manifest.json (null if it has none)
};

// The names in `dir`, without the lock file, sorted.
inline std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename() != rhonet::folder_lock::file_name) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// dir/manifest.json if it is a JSON object; null otherwise.
inline nlohmann::json read_manifest(const fs::path& dir) {
  std::ifstream in(dir / "manifest.json");
  if (!in) return nullptr;
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  return j.is_object() ? j : nlohmann::json(nullptr);
}

inline std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }

// Locks `dir` (creating it) and checks that this run may write into it; `flag` names the
// option in messages, `is_own(entries, manifest)` says whether the folder holds an earlier
// run of `program`. Throws std::runtime_error (or rhonet::folder_in_use) with a message that
// says what to do.
inline claim claim_folder(const fs::path& dir, const std::string& program, const std::string& flag, mode m,
                          const std::function<bool(const std::vector<std::string>&, const nlohmann::json&)>& is_own) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
    throw std::runtime_error(flag + " " + quoted(dir) + " exists and is not a folder");
  claim c;
  try {
    c.lock = rhonet::folder_lock(dir, program);
  } catch (const rhonet::folder_in_use& e) {
    throw std::runtime_error(flag + " " + e.what());
  }
  const auto names = entries(dir);
  if (names.empty()) return c;
  c.manifest = read_manifest(dir);
  c.had_run = is_own(names, c.manifest);
  if (!c.had_run) {
    std::string listed;
    for (std::size_t i = 0; i < names.size() && i < 5; ++i) listed += (i ? ", " : "") + names[i];
    if (names.size() > 5) listed += ", ...";
    throw std::runtime_error(flag + " " + quoted(dir) + " is not empty and holds no run of " + program + " (it has " +
                             listed + "); choose a new or empty folder" +
                             (m == mode::fresh ? "" : " (--overwrite and --resume apply only to a folder " +
                                                          program + " wrote)"));
  }
  if (m == mode::fresh) {
    std::string about;
    auto text = [&](const char* key) {
      const auto& v = c.manifest[key];
      return v.is_string() ? v.get<std::string>() : v.dump();
    };
    if (c.manifest.is_object()) {
      if (c.manifest.contains("started")) about += "started " + text("started");
      if (c.manifest.contains("status")) about += std::string(about.empty() ? "" : ", ") + "status " + text("status");
    }
    throw std::runtime_error(flag + " " + quoted(dir) + " holds an earlier run of " + program +
                             (about.empty() ? "" : " (" + about + ")") +
                             "; add --resume to continue it or --overwrite to replace it");
  }
  return c;
}

// Removes everything in `dir` but the lock file (which the caller holds) and, if given, the
// folder `keep` inside it (another locked folder, e.g. a checkpoint folder), which is
// cleared the same way.
inline void clear(const fs::path& dir, const fs::path& keep = {}) {
  const fs::path k = keep.empty() ? fs::path() : fs::weakly_canonical(keep);
  for (const auto& name : entries(dir)) {
    const fs::path p = dir / name;
    if (!k.empty() && !fs::is_symlink(p)) {
      const fs::path c = fs::weakly_canonical(p);
      const auto [end, _] = std::mismatch(c.begin(), c.end(), k.begin(), k.end());
      if (end == c.end()) {  // p is `keep` or holds it
        clear(p, keep);
        continue;
      }
    }
    fs::remove_all(p);
  }
}

}  // namespace run_folder
