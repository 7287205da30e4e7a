// Checkpoints: a folder with one .npy per parameter, BN state buffer and SGD momentum buffer,
// plus manifest.json (written last) describing them.
//
//   save_checkpoint(dir, net, &opt, {{"epoch", 3}});       // opt may be nullptr
//   nlohmann::json extra = load_checkpoint(dir, net, &opt);
//   std::optional<path> p = latest_checkpoint(root);       // highest complete root/ckpt-<n>
//   recover_checkpoints(root);                             // tidy up after a killed writer
//
// Crash safety: everything is written (and fsynced) into the sibling `dir.tmp-<pid>`, the
// manifest last; the folder is then renamed to `dir` (an existing `dir` is first renamed to
// `dir.old-<pid>` and removed once the new one is in place). A folder without manifest.json,
// or named *.tmp-*, is never a checkpoint.
//
// Values: a checkpoint holds only finite numbers; NaN or Inf in a tensor file is a data_error
// naming the file and the byte offset, and nothing is loaded.
//
// Manifest (format_version 1):
//   { "format": "rhonet-checkpoint", "format_version": 1, "signature": Net::signature(),
//     "dtype": "float32" | "float64", "npy_descr": "<f4" | "<f8",
//     "tensors": [ {"file", "name", "kind": "parameter" | "buffer" | "momentum",
//                   "role": param role | "running_stat" | "momentum", "shape": [...]}, ... ],
//     "optimizer": null | {"type": "sgd", "step_count", "buffers_initialised", "lr",
//                          "momentum", "weight_decay", "nesterov"},
//     "extra": <whatever the trainer passed> }
// Each .npy holds the tensor's logical shape (e.g. {out, in, k, k} for a conv kernel; the
// value matrix is the same memory in row-major order). Momentum buffers have the logical
// shape of their parameter.
//
// Loading checks, before overwriting anything: the manifest parses, its dtype is T's, its
// signature equals Net::signature(), and every tensor file exists with dtype T, C order, the
// expected shape and the exact size. All failures are rhonet::data_error naming the file,
// expected and found. Values are then read into the existing tensors (no reallocation).
// With an optimizer, its momentum, weight_decay and nesterov must match the saved ones
// (std::invalid_argument otherwise); lr and step count are restored.
#pragma once

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <rhonet/core/error.hpp>
#include <rhonet/core/finite.hpp>
#include <rhonet/core/parameter.hpp>
#include <rhonet/io/npy.hpp>
#include <rhonet/optim.hpp>

namespace rhonet {

inline constexpr int checkpoint_format_version = 1;
inline constexpr const char* checkpoint_manifest_name = "manifest.json";

// root / "ckpt-<n>": the naming latest_checkpoint() looks for.
inline std::filesystem::path checkpoint_path(const std::filesystem::path& root, std::uint64_t n) {
  return root / ("ckpt-" + std::to_string(n));
}

namespace detail::ckpt {

namespace fs = std::filesystem;

template <class T>
const char* dtype_name() {
  return std::is_same_v<T, float> ? "float32" : "float64";
}

// A file name from a tensor name: keeps [A-Za-z0-9._-], replaces the rest by '_'.
inline std::string file_stem(const std::string& name) {
  std::string s = name;
  for (char& c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
          c == '-'))
      c = '_';
  return s;
}

inline std::string index_str(std::size_t i) {
  std::string s = std::to_string(i);
  return std::string(s.size() < 3 ? 3 - s.size() : 0, '0') + s;
}

// `dir` without a trailing separator, so that filename() is the folder's name.
inline fs::path normalised(const fs::path& dir) {
  fs::path d = dir.lexically_normal();
  if (d.filename().empty() && d.has_parent_path()) d = d.parent_path();
  if (d.empty() || d.filename() == "." || d.filename() == "..")
    throw std::invalid_argument("rhonet::save_checkpoint: '" + dir.string() + "' does not name a folder");
  return d;
}

inline fs::path sibling(const fs::path& d, const std::string& suffix) {
  return d.parent_path() / (d.filename().string() + suffix);
}

inline std::string shape_str(const std::vector<std::size_t>& s) { return npy::shape_string(s); }

// A field of the manifest with the given JSON type, or a data_error.
inline const nlohmann::json& field(const nlohmann::json& obj, const char* key, nlohmann::json::value_t type,
                                   const char* type_name, const std::string& file, const std::string& where = {}) {
  auto it = obj.find(key);
  if (it == obj.end())
    throw data_error(file, 0, std::string("a field '") + key + "' (" + type_name + ")", "no such field", where);
  const bool ok = it->type() == type ||
                  (type == nlohmann::json::value_t::number_unsigned && it->is_number_integer() && *it >= 0) ||
                  (type == nlohmann::json::value_t::number_float && it->is_number());
  if (!ok)
    throw data_error(file, 0, std::string("a field '") + key + "' (" + type_name + ")",
                     std::string("the JSON ") + it->type_name() + " " + it->dump(), where);
  return *it;
}

struct tensor_entry {
  std::string file, name, kind;
  std::vector<std::size_t> shape;
};

}  // namespace detail::ckpt

namespace detail::ckpt {
// The bodies of save_checkpoint and load_checkpoint depend on the element type only, not on
// the network type: one instantiation serves every network of a translation unit, which
// keeps programs with many networks within the compile budget (docs/performance.md).
template <class T>
void save(const std::filesystem::path& dir, const std::string& signature,
          const std::vector<parameter<T>*>& params, const std::vector<state_buffer<T>*>& bufs,
          const sgd<T>* opt, nlohmann::json extra) {
  namespace fs = std::filesystem;
  namespace ck = detail::ckpt;
  const fs::path d = ck::normalised(dir);
  const std::string pid = std::to_string(::getpid());
  const fs::path tmp = ck::sibling(d, ".tmp-" + pid);
  const fs::path old = ck::sibling(d, ".old-" + pid);
  if (d.has_parent_path()) fs::create_directories(d.parent_path());
  fs::remove_all(tmp);
  fs::create_directory(tmp);
  try {
    nlohmann::json tensors = nlohmann::json::array();
    auto add = [&](const std::string& prefix, std::size_t i, const std::string& name, const std::string& kind,
                   const std::string& role, const std::vector<std::size_t>& shape, const T* data, std::size_t n) {
      if (npy::element_count(shape) != n)
        throw std::logic_error("rhonet::save_checkpoint: tensor '" + name + "' has logical shape " +
                               ck::shape_str(shape) + " but " + std::to_string(n) + " values");
      const std::string file = prefix + "-" + ck::index_str(i) + "-" + ck::file_stem(name) + ".npy";
      npy::write<T>((tmp / file).string(), data, shape);
      tensors.push_back({{"file", file}, {"name", name}, {"kind", kind}, {"role", role}, {"shape", shape}});
    };
    for (std::size_t i = 0; i < params.size(); ++i)
      add("param", i, params[i]->name, "parameter", to_string(params[i]->role), params[i]->shape,
          params[i]->value.data(), params[i]->value.size());
    for (std::size_t i = 0; i < bufs.size(); ++i)
      add("buffer", i, bufs[i]->name, "buffer", "running_stat", bufs[i]->shape, bufs[i]->value.data(),
          bufs[i]->value.size());
    nlohmann::json optimizer = nullptr;
    if (opt) {
      const auto& ps = opt->parameters();
      const auto mb = opt->buffers();
      for (std::size_t i = 0; i < ps.size(); ++i)
        add("momentum", i, ps[i]->name, "momentum", "momentum", ps[i]->shape, mb[i].data(), mb[i].size());
      const sgd_options& o = opt->options();
      optimizer = {{"type", "sgd"},
                   {"step_count", opt->step_count()},
                   {"buffers_initialised", opt->buffers_initialised()},
                   {"lr", o.lr},
                   {"momentum", o.momentum},
                   {"weight_decay", o.weight_decay},
                   {"nesterov", o.nesterov}};
    }
    nlohmann::json manifest = {{"format", "rhonet-checkpoint"},
                               {"format_version", checkpoint_format_version},
                               {"signature", signature},
                               {"dtype", ck::dtype_name<T>()},
                               {"npy_descr", npy::descr<T>()},
                               {"tensors", std::move(tensors)},
                               {"optimizer", std::move(optimizer)},
                               {"extra", std::move(extra)}};
    write_file_synced(tmp / checkpoint_manifest_name, {manifest.dump(2) + "\n"});
    fsync_path(tmp, true);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
  // Swap into place.
  const bool replacing = fs::exists(d);
  if (replacing) {
    fs::remove_all(old);
    fs::rename(d, old);
  }
  try {
    fs::rename(tmp, d);
  } catch (...) {
    std::error_code ec;
    if (replacing) fs::rename(old, d, ec);
    fs::remove_all(tmp, ec);
    throw;
  }
  fsync_path(d.has_parent_path() ? d.parent_path() : fs::path("."), true);
  if (replacing) fs::remove_all(old);
}
}  // namespace detail::ckpt

// Writes a checkpoint of `net` (and `opt`, if not null) with the trainer's `extra` JSON into
// the folder `dir` (created, or atomically replaced). Throws std::system_error on I/O errors;
// on failure the temporary folder is removed and an existing checkpoint at `dir` is kept.
template <class Net>
void save_checkpoint(const std::filesystem::path& dir, Net& net, const sgd<typename Net::value_type>* opt = nullptr,
                     nlohmann::json extra = nlohmann::json::object()) {
  detail::ckpt::save<typename Net::value_type>(dir, Net::signature(), net.parameters(), net.buffers(), opt,
                                               std::move(extra));
}

namespace detail::ckpt {
// Where the data of a valid npy file starts (for error positions).
inline std::uint64_t npy_data_offset_of(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  return npy::read_header(in, file).data_offset;
}
}  // namespace detail::ckpt

// Reads the manifest of a checkpoint folder (data_error if missing or malformed).
inline nlohmann::json read_checkpoint_manifest(const std::filesystem::path& dir) {
  const std::string file = (dir / checkpoint_manifest_name).string();
  std::ifstream in(file, std::ios::binary);
  if (!in) throw data_error(file, 0, "a checkpoint manifest (manifest.json)", "no such file or unreadable");
  if (in.peek() == std::char_traits<char>::eof())
    throw data_error(file, 0, "a checkpoint manifest in valid JSON", "an empty file");
  nlohmann::json m;
  try {
    m = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw data_error(file, e.byte, "a checkpoint manifest in valid JSON", std::string("a parse error: ") + e.what());
  } catch (const nlohmann::json::exception& e) {  // e.g. a number beyond double (no position given)
    throw data_error(file, 0, "a checkpoint manifest in valid JSON", std::string("an error: ") + e.what());
  }
  if (!m.is_object()) throw data_error(file, 0, "a JSON object as checkpoint manifest", std::string("a JSON ") + m.type_name());
  using vt = nlohmann::json::value_t;
  namespace ck = detail::ckpt;
  const auto& fmt = ck::field(m, "format", vt::string, "string", file);
  if (fmt.get<std::string>() != "rhonet-checkpoint")
    throw data_error(file, 0, "format \"rhonet-checkpoint\"", fmt.dump());
  const auto& ver = ck::field(m, "format_version", vt::number_unsigned, "integer", file);
  if (ver.get<long long>() != checkpoint_format_version)
    throw data_error(file, 0, "format_version " + std::to_string(checkpoint_format_version), ver.dump());
  return m;
}

namespace detail::ckpt {
template <class T>
nlohmann::json load(const std::filesystem::path& dir, const std::string& signature,
                    const std::vector<parameter<T>*>& params, const std::vector<state_buffer<T>*>& bufs,
                    sgd<T>* opt) {
  namespace fs = std::filesystem;
  namespace ck = detail::ckpt;
  using vt = nlohmann::json::value_t;
  const nlohmann::json m = read_checkpoint_manifest(dir);
  const std::string mfile = (dir / checkpoint_manifest_name).string();

  const std::string dtype = ck::field(m, "dtype", vt::string, "string", mfile).get<std::string>();
  if (dtype != ck::dtype_name<T>())
    throw data_error(mfile, 0, std::string("element type ") + ck::dtype_name<T>() + " ('" + npy::descr<T>() +
                                   "') of the network being loaded, " + signature,
                     "element type " + dtype + " (checkpoint of " +
                         (m.contains("signature") ? m["signature"].dump() : std::string("?")) + ")");
  const std::string sig = ck::field(m, "signature", vt::string, "string", mfile).get<std::string>();
  if (sig != signature)
    throw data_error(mfile, 0, "a checkpoint of the network being loaded, " + signature,
                     "a checkpoint of " + sig);

  // Index the tensor entries by kind and name.
  std::map<std::pair<std::string, std::string>, ck::tensor_entry> entries;
  const auto& tensors = ck::field(m, "tensors", vt::array, "array", mfile);
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    const std::string where = "tensors[" + std::to_string(i) + "]";
    if (!t.is_object()) throw data_error(mfile, 0, "an object", std::string("a JSON ") + t.type_name(), where);
    ck::tensor_entry e;
    e.file = ck::field(t, "file", vt::string, "string", mfile, where).get<std::string>();
    e.name = ck::field(t, "name", vt::string, "string", mfile, where).get<std::string>();
    e.kind = ck::field(t, "kind", vt::string, "string", mfile, where).get<std::string>();
    if (e.file.empty() || e.file.find('/') != std::string::npos || e.file == "." || e.file == "..")
      throw data_error(mfile, 0, "a plain file name inside the checkpoint folder", "\"" + e.file + "\"", where);
    entries[{e.kind, e.name}] = e;
  }

  struct job {
    std::string file, what;
    std::vector<std::size_t> shape;
    T* out;
    std::size_t n;
  };
  std::vector<job> jobs;
  auto plan = [&](const std::string& kind, const std::string& name, const std::vector<std::size_t>& shape, T* out,
                  std::size_t n) {
    auto it = entries.find({kind, name});
    if (it == entries.end())
      throw data_error(mfile, 0, "a tensor entry of kind '" + kind + "' named '" + name + "'", "none");
    if (npy::element_count(shape) != n)
      throw std::logic_error("rhonet::load_checkpoint: tensor '" + name + "' has logical shape " +
                             ck::shape_str(shape) + " but " + std::to_string(n) + " values");
    jobs.push_back({(dir / it->second.file).string(), kind + " '" + name + "'", shape, out, n});
  };
  for (parameter<T>* p : params) plan("parameter", p->name, p->shape, p->value.data(), p->value.size());
  for (state_buffer<T>* b : bufs) plan("buffer", b->name, b->shape, b->value.data(), b->value.size());

  const auto& optj = m.contains("optimizer") ? m["optimizer"] : nlohmann::json(nullptr);
  std::size_t steps = 0;
  double lr = 0;
  if (opt) {
    if (!optj.is_object())
      throw data_error(mfile, 0, "optimizer state (an optimizer was given to load_checkpoint)",
                       optj.is_null() ? "none (saved without an optimizer)" : optj.dump());
    const std::string type = ck::field(optj, "type", vt::string, "string", mfile, "optimizer").get<std::string>();
    if (type != "sgd") throw data_error(mfile, 0, "optimizer type \"sgd\"", "\"" + type + "\"", "optimizer");
    steps = ck::field(optj, "step_count", vt::number_unsigned, "integer", mfile, "optimizer").get<std::size_t>();
    lr = ck::field(optj, "lr", vt::number_float, "number", mfile, "optimizer").get<double>();
    if (!(lr >= 0)) throw data_error(mfile, 0, "a learning rate >= 0", std::to_string(lr), "optimizer");
    const double mu = ck::field(optj, "momentum", vt::number_float, "number", mfile, "optimizer").get<double>();
    const double wd = ck::field(optj, "weight_decay", vt::number_float, "number", mfile, "optimizer").get<double>();
    const bool nest = ck::field(optj, "nesterov", vt::boolean, "boolean", mfile, "optimizer").get<bool>();
    const sgd_options& o = opt->options();
    if (o.momentum != mu || o.weight_decay != wd || o.nesterov != nest)
      throw std::invalid_argument(
          "rhonet::load_checkpoint: " + mfile + ": the optimizer has momentum " + std::to_string(o.momentum) +
          ", weight_decay " + std::to_string(o.weight_decay) + ", nesterov " + (o.nesterov ? "true" : "false") +
          " but the checkpoint was saved with momentum " + std::to_string(mu) + ", weight_decay " +
          std::to_string(wd) + ", nesterov " + (nest ? "true" : "false"));
    const auto& ps = opt->parameters();
    const auto mb = opt->buffers();
    for (std::size_t i = 0; i < ps.size(); ++i) plan("momentum", ps[i]->name, ps[i]->shape, mb[i].data(), mb[i].size());
  }

  // Validate every file before overwriting anything.
  for (const job& j : jobs) {
    std::ifstream in(j.file, std::ios::binary);
    if (!in) throw data_error(j.file, 0, "the npy file of " + j.what + " listed in " + mfile, "no such file or unreadable");
    const npy::header h = npy::read_header(in, j.file);
    if (h.descr != npy::descr<T>())
      throw data_error(j.file, h.dict_offset, std::string("dtype '") + npy::descr<T>() + "' for " + j.what,
                       "dtype '" + h.descr + "'", "npy header");
    if (h.shape != j.shape)
      throw data_error(j.file, h.dict_offset, "shape " + ck::shape_str(j.shape) + " for " + j.what,
                       "shape " + ck::shape_str(h.shape), "npy header");
  }
  // Read everything into scratch space and check the values (a checkpoint never holds NaN
  // or Inf: the trainer saves only finite states), so a bad file leaves the net untouched.
  std::vector<std::vector<T>> values(jobs.size());
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const job& j = jobs[i];
    values[i].resize(j.n);
    npy::read_into<T>(j.file, values[i].data(), j.shape, j.what);
    if (const std::size_t k = first_non_finite(values[i].data(), j.n); k != j.n)
      throw data_error(j.file, ck::npy_data_offset_of(j.file) + k * sizeof(T), "finite values for " + j.what,
                       non_finite_name(values[i][k]) + " at element " + std::to_string(k), "npy data");
  }
  for (std::size_t i = 0; i < jobs.size(); ++i) std::copy(values[i].begin(), values[i].end(), jobs[i].out);

  if (opt) {
    opt->set_lr(lr);
    opt->set_step_count(steps);
  }
  return m.contains("extra") ? m["extra"] : nlohmann::json::object();
}
}  // namespace detail::ckpt

// Loads a checkpoint written by save_checkpoint into `net` (and `opt`, if not null) and
// returns the `extra` JSON saved with it. See the header comment for the checks.
template <class Net>
nlohmann::json load_checkpoint(const std::filesystem::path& dir, Net& net, sgd<typename Net::value_type>* opt = nullptr) {
  return detail::ckpt::load<typename Net::value_type>(dir, Net::signature(), net.parameters(), net.buffers(), opt);
}

namespace detail::ckpt {
// n if `name` is "ckpt-<n>" (digits only), else nullopt; `suffix`, if given, receives what
// follows "ckpt-<n>" when it starts with '.' (e.g. ".tmp-123"), else the name must end there.
inline std::optional<std::uint64_t> number_of(const std::string& name, std::string* suffix = nullptr) {
  if (name.size() <= 5 || name.compare(0, 5, "ckpt-") != 0) return std::nullopt;
  std::uint64_t n = 0;
  const char* first = name.data() + 5;
  const char* last = name.data() + name.size();
  const auto [ptr, err] = std::from_chars(first, last, n);
  if (err != std::errc() || ptr == first) return std::nullopt;
  if (ptr != last && (suffix == nullptr || *ptr != '.')) return std::nullopt;
  if (suffix) *suffix = std::string(ptr, last);
  return n;
}
}  // namespace detail::ckpt

// The complete checkpoints under `root`: subfolders named ckpt-<number> (digits only, so
// ckpt-7.tmp-123 and ckpt-7.old-123 are ignored) that contain manifest.json, by increasing
// number. Empty if there is none (or root does not exist).
inline std::vector<std::pair<std::uint64_t, std::filesystem::path>> list_checkpoints(
    const std::filesystem::path& root) {
  namespace fs = std::filesystem;
  std::vector<std::pair<std::uint64_t, fs::path>> found;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return found;
  for (const fs::directory_entry& e : fs::directory_iterator(root, ec)) {
    const auto n = detail::ckpt::number_of(e.path().filename().string());
    if (!n) continue;
    std::error_code ec2;
    if (!e.is_directory(ec2) || !fs::is_regular_file(e.path() / checkpoint_manifest_name, ec2)) continue;
    found.emplace_back(*n, e.path());
  }
  std::sort(found.begin(), found.end());
  return found;
}

// The checkpoint to resume from: the complete one with the highest number (see
// list_checkpoints), or nullopt.
inline std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& root) {
  auto all = list_checkpoints(root);
  if (all.empty()) return std::nullopt;
  return all.back().second;
}

// Cleans up after save_checkpoint calls that were killed, for the folders under `root` whose
// writer (the pid in the name) is no longer running: ckpt-<n>.tmp-<pid> is removed (it was
// never a checkpoint); ckpt-<n>.old-<pid> is the previous complete version of ckpt-<n>,
// renamed back if ckpt-<n> is missing (killed between the two renames), removed otherwise.
// Returns how many folders it removed or restored.
inline std::size_t recover_checkpoints(const std::filesystem::path& root) {
  namespace fs = std::filesystem;
  std::size_t changed = 0;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return 0;
  std::vector<fs::path> leftovers;
  for (const fs::directory_entry& e : fs::directory_iterator(root, ec)) leftovers.push_back(e.path());
  std::sort(leftovers.begin(), leftovers.end());
  for (const fs::path& p : leftovers) {
    std::string suffix;
    const auto n = detail::ckpt::number_of(p.filename().string(), &suffix);
    if (!n || suffix.empty()) continue;
    const bool tmp = suffix.rfind(".tmp-", 0) == 0, old = suffix.rfind(".old-", 0) == 0;
    if (!tmp && !old) continue;
    long pid = 0;
    const std::string digits = suffix.substr(5);
    const auto [ptr, err] = std::from_chars(digits.data(), digits.data() + digits.size(), pid);
    if (err != std::errc() || ptr != digits.data() + digits.size() || pid <= 0) continue;
    if (pid != long(::getpid()) && (::kill(pid_t(pid), 0) == 0 || errno != ESRCH)) continue;  // still running
    const fs::path target = checkpoint_path(root, *n);
    std::error_code ec2;
    if (old && !fs::exists(target, ec2) && fs::is_regular_file(p / checkpoint_manifest_name, ec2)) {
      fs::rename(p, target);
      fsync_path(root, true);
    } else {
      fs::remove_all(p);
    }
    ++changed;
  }
  return changed;
}

}  // namespace rhonet
