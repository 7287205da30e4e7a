// Checkpoints: a folder with one .npy per tensor of state (parameters, BN state buffers, the
// optimiser's momentum or moments, any component's own) plus manifest.json (written last)
// describing them.
//
//   save_checkpoint(dir, net, &opt, {{"epoch", 3}});       // opt: sgd, adam, adamw or nullptr
//   nlohmann::json extra = load_checkpoint(dir, net, &opt);
//   std::optional<path> p = latest_checkpoint(root);       // highest complete root/ckpt-<n>
//   recover_checkpoints(root);                             // tidy up after a killed writer
//
// Composition: every stateful component saves and loads its own part through
// checkpoint_writer / checkpoint_reader (below): the network its tensors, the optimiser its
// hyperparameters, step count and momentum (Adam: both moments), the batcher its RNG, the trainer its epoch and
// configuration. No component reads another's part and nothing is stored twice.
//
// Crash safety: everything is written (and fsynced) into the sibling `dir.tmp-<pid>`, the
// manifest last; the folder is then renamed to `dir` (an existing `dir` is first renamed to
// `dir.old-<pid>` and removed once the new one is in place). A folder without manifest.json,
// or named *.tmp-*, is never a checkpoint.
//
// Values: a checkpoint holds only finite numbers; NaN or Inf in a tensor file is a data_error
// naming the file and the byte offset, and nothing is loaded.
//
// Manifest (format_version 2; version 1, which kept the trainer's state in "extra", loads too):
//   { "format": "rhonet-checkpoint", "format_version": 2, "signature": Net::signature(),
//     "dtype": "float32" | "float64", "npy_descr": "<f4" | "<f8",
//     "tensors": [ {"file", "name", "kind": "parameter" | "buffer" | "momentum" | ...,
//                   "role": param role | "running_stat" | "momentum", "shape": [...]}, ... ],
//     "optimizer": null | {"type": "sgd", "step_count", "buffers_initialised", "lr",
//                          "momentum", "weight_decay", "nesterov"}
//                      | {"type": "adam" | "adamw", "step_count", "lr", "beta1", "beta2", "eps",
//                         "weight_decay"}   (tensors of kinds "exp_avg" and "exp_avg_sq"),
//     "plateau": {"steps", "bad_epochs", "cooldown_left", "best", options}  (with that scheduler),
//     "batcher": {"state"}, "trainer": {"epoch", "seconds", "config"}  (trainer checkpoints),
//     "model": {"layers": [...], "preprocessing": null | {...}}  (save_checkpoint, save_model:
//              each layer's settings (io/layer_settings.hpp) and the inputs' preprocessing
//              (io/model_file.hpp); the trainer's checkpoints, of a type-erased model, have none),
//     "extra": <whatever the caller passed> }
// Each .npy holds the tensor's logical shape (e.g. {out, in, k, k} for a conv kernel; the
// value matrix is the same memory in row-major order). Momentum buffers have the logical
// shape of their parameter.
//
// Loading checks, before overwriting anything: the manifest parses, its dtype is T's, its
// signature equals Net::signature(), and every tensor file exists with dtype T, C order, the
// expected shape, the exact size and finite values. All failures are rhonet::data_error naming
// the file, expected and found. With an optimizer, its type must be the saved one and its
// hyperparameters (SGD: momentum, weight_decay, nesterov; Adam: betas, eps, weight_decay)
// must match (std::invalid_argument otherwise); lr and step count are restored.
#pragma once

#include <algorithm>
#include <charconv>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <rhonet/core/error.hpp>
#include <rhonet/core/finite.hpp>
#include <rhonet/core/parameter.hpp>
#include <rhonet/io/durable_file.hpp>
#include <rhonet/io/layer_settings.hpp>
#include <rhonet/io/npy.hpp>
#include <rhonet/optim.hpp>

namespace rhonet {

inline constexpr int checkpoint_format_version = 2;

// A valid checkpoint of something else: another network, element type or run (the trainer's
// configuration check). Unlike the other data_errors of a checkpoint (a damaged file), it is
// never a reason to fall back to an older checkpoint: the older ones are of the same run.
class checkpoint_mismatch : public data_error {
 public:
  using data_error::data_error;
};
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
// Where the data of a valid npy file starts (for error positions).
inline std::uint64_t npy_data_offset_of(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  return npy::read_header(in, file).data_offset;
}
}  // namespace detail::ckpt

// Reads the manifest of a checkpoint folder (data_error if missing or malformed). Accepts
// every format version this library can load (1 and 2).
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
  if (ver.get<long long>() < 1 || ver.get<long long>() > checkpoint_format_version)
    throw data_error(file, 0, "format_version 1 to " + std::to_string(checkpoint_format_version) +
                                  " (this rhonet reads those; a newer rhonet wrote this checkpoint)",
                     ver.dump());
  return m;
}

// The composition of a checkpoint (docs/reliability.md): each stateful component (network,
// optimizer, batcher, trainer, observers) writes its own part through a checkpoint_writer:
// named scalars in a section of its own, and tensors, one .npy each; reading goes through a
// checkpoint_reader in two passes (first everything is checked, then applied), so that a bad
// checkpoint changes nothing. No component reads another's part.
template <class T>
class checkpoint_writer {
 public:
  explicit checkpoint_writer(std::filesystem::path folder) : folder_(std::move(folder)) {}

  template <class V>
  void put(const std::string& section, const std::string& key, const V& value) {
    sections_[section][key] = value;
  }
  void put_section(const std::string& section, nlohmann::json value) { sections_[section] = std::move(value); }

  // kind: parameter, buffer, momentum, or a component's own; name: unique within the kind.
  void tensor(const std::string& kind, const std::string& name, const std::string& role,
              const std::vector<std::size_t>& shape, const T* data, std::size_t n) {
    namespace ck = detail::ckpt;
    if (npy::element_count(shape) != n)
      throw std::logic_error("rhonet::save_checkpoint: tensor '" + name + "' has logical shape " +
                             ck::shape_str(shape) + " but " + std::to_string(n) + " values");
    const std::string prefix = kind == "parameter" ? "param" : kind;  // format 1's file names
    const std::string file = prefix + "-" + ck::index_str(count_[kind]++) + "-" + ck::file_stem(name) + ".npy";
    npy::write<T>((folder_ / file).string(), data, shape);
    tensors_.push_back({{"file", file}, {"name", name}, {"kind", kind}, {"role", role}, {"shape", shape}});
  }

  const nlohmann::json& sections() const { return sections_; }
  const nlohmann::json& tensors() const { return tensors_; }

 private:
  std::filesystem::path folder_;
  nlohmann::json sections_ = nlohmann::json::object(), tensors_ = nlohmann::json::array();
  std::map<std::string, std::size_t> count_;
};

template <class T>
class checkpoint_reader {
 public:
  // Parses and checks the manifest: format, version, element type, and (when `signature` is
  // not empty) that it is a checkpoint of that network.
  checkpoint_reader(const std::filesystem::path& dir, const std::string& signature);

  const std::string& manifest() const { return mfile_; }
  const std::filesystem::path& folder() const { return dir_; }
  // False in the checking pass, true in the applying pass: a component assigns its state
  // only when applying.
  bool applying() const { return applying_; }
  void set_applying(bool a) { applying_ = a; }

  bool has_section(const std::string& section) const {
    return m_.contains(section) && m_[section].is_object();
  }
  const nlohmann::json& section(const std::string& section) const {
    if (!has_section(section)) fail(section, "a section '" + section + "' (an object)", "none");
    return m_[section];
  }
  // A scalar of a section, with its JSON type checked (std::string, bool, double, integers).
  template <class V>
  V get(const std::string& section, const std::string& key) const;
  [[noreturn]] void fail(const std::string& where, const std::string& expected, const std::string& found) const {
    throw data_error(mfile_, 0, expected, found, where);
  }

  // Checking pass: the tensor's file exists, has dtype T, C order, the expected shape, the
  // exact size and finite values (read into scratch). Applying pass: copied into `out`.
  void tensor(const std::string& kind, const std::string& name, const std::vector<std::size_t>& shape, T* out,
              std::size_t n) const;

 private:
  std::filesystem::path dir_;
  std::string mfile_;
  nlohmann::json m_;
  std::map<std::pair<std::string, std::string>, detail::ckpt::tensor_entry> entries_;
  mutable std::map<std::pair<std::string, std::string>, std::vector<T>> loaded_;
  bool applying_ = false;
};

template <class T>
checkpoint_reader<T>::checkpoint_reader(const std::filesystem::path& dir, const std::string& signature)
    : dir_(dir), mfile_((dir / checkpoint_manifest_name).string()), m_(read_checkpoint_manifest(dir)) {
  namespace ck = detail::ckpt;
  using vt = nlohmann::json::value_t;
  const std::string dtype = ck::field(m_, "dtype", vt::string, "string", mfile_).get<std::string>();
  if (dtype != ck::dtype_name<T>())
    throw checkpoint_mismatch(mfile_, 0, std::string("element type ") + ck::dtype_name<T>() + " ('" + npy::descr<T>() +
                                    "') of the network being loaded, " + signature,
                     "element type " + dtype + " (checkpoint of " +
                         (m_.contains("signature") ? m_["signature"].dump() : std::string("?")) + ")");
  const std::string sig = ck::field(m_, "signature", vt::string, "string", mfile_).get<std::string>();
  if (!signature.empty() && sig != signature)
    throw checkpoint_mismatch(mfile_, 0, "a checkpoint of the network being loaded, " + signature,
                              "a checkpoint of " + sig);
  const auto& tensors = ck::field(m_, "tensors", vt::array, "array", mfile_);
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    const std::string where = "tensors[" + std::to_string(i) + "]";
    if (!t.is_object()) throw data_error(mfile_, 0, "an object", std::string("a JSON ") + t.type_name(), where);
    ck::tensor_entry e;
    e.file = ck::field(t, "file", vt::string, "string", mfile_, where).get<std::string>();
    e.name = ck::field(t, "name", vt::string, "string", mfile_, where).get<std::string>();
    e.kind = ck::field(t, "kind", vt::string, "string", mfile_, where).get<std::string>();
    if (e.file.empty() || e.file.find('/') != std::string::npos || e.file == "." || e.file == "..")
      throw data_error(mfile_, 0, "a plain file name inside the checkpoint folder", "\"" + e.file + "\"", where);
    entries_[{e.kind, e.name}] = e;
  }
  // Format 1 kept the trainer's and the batcher's state in "extra": map them to their parts.
  if (m_["format_version"].get<long long>() == 1 && m_.contains("extra") && m_["extra"].is_object()) {
    const nlohmann::json& x = m_["extra"];
    if (x.contains("batcher")) m_["batcher"] = {{"state", x["batcher"]}};
    if (x.contains("epoch")) {
      nlohmann::json t = {{"epoch", x["epoch"]}, {"config", nlohmann::json::object()}};
      if (x.contains("seconds")) t["seconds"] = x["seconds"];
      for (const char* k : {"seed", "batch", "train_samples"})
        if (x.contains(k)) t["config"][k] = x[k];
      if (x.contains("drop_last"))  // stored as 0 or 1 then
        t["config"]["drop_last"] = x["drop_last"].is_number() ? nlohmann::json(x["drop_last"] != 0) : x["drop_last"];
      m_["trainer"] = t;
    }
  }
}

template <class T>
template <class V>
V checkpoint_reader<T>::get(const std::string& sec, const std::string& key) const {
  namespace ck = detail::ckpt;
  using vt = nlohmann::json::value_t;
  const nlohmann::json& s = section(sec);
  if constexpr (std::is_same_v<V, std::string>)
    return ck::field(s, key.c_str(), vt::string, "string", mfile_, sec).template get<V>();
  else if constexpr (std::is_same_v<V, bool>)
    return ck::field(s, key.c_str(), vt::boolean, "boolean", mfile_, sec).template get<V>();
  else if constexpr (std::is_floating_point_v<V>)
    return ck::field(s, key.c_str(), vt::number_float, "number", mfile_, sec).template get<V>();
  else
    return ck::field(s, key.c_str(), vt::number_unsigned, "non-negative integer", mfile_, sec).template get<V>();
}

template <class T>
void checkpoint_reader<T>::tensor(const std::string& kind, const std::string& name,
                                  const std::vector<std::size_t>& shape, T* out, std::size_t n) const {
  namespace ck = detail::ckpt;
  const std::pair<std::string, std::string> key{kind, name};
  if (applying_) {
    const auto& v = loaded_.at(key);
    std::copy(v.begin(), v.end(), out);
    return;
  }
  const auto it = entries_.find(key);
  if (it == entries_.end())
    throw data_error(mfile_, 0, "a tensor entry of kind '" + kind + "' named '" + name + "'", "none");
  if (npy::element_count(shape) != n)
    throw std::logic_error("rhonet::load_checkpoint: tensor '" + name + "' has logical shape " +
                           ck::shape_str(shape) + " but " + std::to_string(n) + " values");
  const std::string file = (dir_ / it->second.file).string();
  const std::string what = kind + " '" + name + "'";
  {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw data_error(file, 0, "the npy file of " + what + " listed in " + mfile_, "no such file or unreadable");
    const npy::header h = npy::read_header(in, file);
    if (h.descr != npy::descr<T>())
      throw data_error(file, h.dict_offset, std::string("dtype '") + npy::descr<T>() + "' for " + what,
                       "dtype '" + h.descr + "'", "npy header");
    if (h.shape != shape)
      throw data_error(file, h.dict_offset, "shape " + ck::shape_str(shape) + " for " + what,
                       "shape " + ck::shape_str(h.shape), "npy header");
  }
  std::vector<T> values(n);
  npy::read_into<T>(file, values.data(), shape, what);
  if (const std::size_t k = first_non_finite(values.data(), n); k != n)
    throw data_error(file, ck::npy_data_offset_of(file) + k * sizeof(T), "finite values for " + what,
                     non_finite_name(values[k]) + " at element " + std::to_string(k), "npy data");
  loaded_[key] = std::move(values);
}

namespace detail::ckpt {

// One stateful component's part of a checkpoint.
template <class T>
struct part {
  std::function<void(checkpoint_writer<T>&)> save;
  std::function<void(const checkpoint_reader<T>&)> load;
};

// The network's part: its signature, parameters and state buffers.
template <class T>
part<T> network_part(const std::vector<parameter<T>*>& params, const std::vector<state_buffer<T>*>& bufs) {
  return {[params, bufs](checkpoint_writer<T>& w) {
            for (const parameter<T>* p : params)
              w.tensor("parameter", p->name, to_string(p->role), p->shape, p->value.data(), p->value.size());
            for (const state_buffer<T>* b : bufs)
              w.tensor("buffer", b->name, "running_stat", b->shape, b->value.data(), b->value.size());
          },
          [params, bufs](const checkpoint_reader<T>& r) {
            for (parameter<T>* p : params) r.tensor("parameter", p->name, p->shape, p->value.data(), p->value.size());
            for (state_buffer<T>* b : bufs) r.tensor("buffer", b->name, b->shape, b->value.data(), b->value.size());
          }};
}

// The network type's description: its layers with their settings and, if given, the
// preprocessing of its inputs (the "model" section). Loading restores the layers' run-time
// settings (batch norm's eps and momentum); checkpoints without the section load as before.
template <class Net, class T = typename Net::value_type>
part<T> model_part(Net& net, nlohmann::json preprocessing = nullptr) {
  return {[&net, preprocessing](checkpoint_writer<T>& w) {
            w.put_section("model", {{"layers", describe_layers(net)}, {"preprocessing", preprocessing}});
          },
          [&net](const checkpoint_reader<T>& r) {
            if (!r.has_section("model")) return;
            const nlohmann::json& m = r.section("model");
            if (!m.contains("layers")) r.fail("model", "a field 'layers'", "no such field");
            apply_layer_settings(net, m["layers"], r.manifest(), r.applying());
          }};
}

// A component with save_state / load_state (a const one can only be saved).
template <class C, class T = typename C::value_type>
part<T> part_of(C& component) {
  part<T> p{[&component](checkpoint_writer<T>& w) { component.save_state(w); }, {}};
  if constexpr (!std::is_const_v<C>) p.load = [&component](const checkpoint_reader<T>& r) { component.load_state(r); };
  return p;
}

// The parts of save_checkpoint and load_checkpoint: the network's tensors, its layers'
// settings and, when `opt` is not null, the optimiser's (a const one can only be saved).
template <class Net, class Opt>
std::vector<part<typename Net::value_type>> parts_of(Net& net, Opt* opt) {
  using T = typename Net::value_type;
  std::vector<part<T>> parts{network_part<T>(net.parameters(), net.buffers()), model_part(net)};
  if (opt) parts.push_back(part_of(*opt));
  return parts;
}

// Writes the parts into `dir` (crash-safe: a sibling temporary folder, the manifest last,
// then renamed into place; an existing checkpoint at `dir` is replaced atomically).
template <class T>
void save(const std::filesystem::path& dir, const std::string& signature, const std::vector<part<T>>& parts,
          nlohmann::json extra) {
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
    checkpoint_writer<T> w(tmp);
    for (const part<T>& p : parts) p.save(w);
    nlohmann::json manifest = {{"format", "rhonet-checkpoint"},
                               {"format_version", checkpoint_format_version},
                               {"signature", signature},
                               {"dtype", ck::dtype_name<T>()},
                               {"npy_descr", npy::descr<T>()},
                               {"tensors", w.tensors()},
                               {"optimizer", nullptr},
                               {"extra", std::move(extra)}};
    for (const auto& [name, section] : w.sections().items()) manifest[name] = section;
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

// Loads the parts from `dir`: every part is checked first, then every part applied. Returns
// the manifest's "extra".
template <class T>
nlohmann::json load(const std::filesystem::path& dir, const std::string& signature, const std::vector<part<T>>& parts) {
  checkpoint_reader<T> r(dir, signature);
  for (const part<T>& p : parts) p.load(r);
  r.set_applying(true);
  for (const part<T>& p : parts) p.load(r);
  return r.has_section("extra") ? r.section("extra") : nlohmann::json::object();
}

}  // namespace detail::ckpt

// Writes a checkpoint of `net` (and `opt`, if not null) with the caller's `extra` JSON into
// the folder `dir` (created, or atomically replaced). Throws std::system_error on I/O errors;
// on failure the temporary folder is removed and an existing checkpoint at `dir` is kept.
template <class Net>
void save_checkpoint(const std::filesystem::path& dir, Net& net, const sgd<typename Net::value_type>* opt = nullptr,
                     nlohmann::json extra = nlohmann::json::object()) {
  detail::ckpt::save<typename Net::value_type>(dir, Net::signature(), detail::ckpt::parts_of(net, opt),
                                               std::move(extra));
}

// Loads a checkpoint written by save_checkpoint into `net` (and `opt`, if not null) and
// returns the `extra` JSON saved with it. See the header comment for the checks.
template <class Net>
nlohmann::json load_checkpoint(const std::filesystem::path& dir, Net& net, sgd<typename Net::value_type>* opt = nullptr) {
  return detail::ckpt::load<typename Net::value_type>(dir, Net::signature(), detail::ckpt::parts_of(net, opt));
}

// The same with another optimiser (adam, adamw, or one of the user's with save_state and
// load_state).
template <class Net, class Opt>
  requires(std::derived_from<Opt, optimizer<typename Net::value_type>> &&
           !std::same_as<Opt, sgd<typename Net::value_type>>)
void save_checkpoint(const std::filesystem::path& dir, Net& net, const Opt* opt,
                     nlohmann::json extra = nlohmann::json::object()) {
  detail::ckpt::save<typename Net::value_type>(dir, Net::signature(), detail::ckpt::parts_of(net, opt),
                                               std::move(extra));
}
template <class Net, class Opt>
  requires(std::derived_from<Opt, optimizer<typename Net::value_type>> &&
           !std::same_as<Opt, sgd<typename Net::value_type>>)
nlohmann::json load_checkpoint(const std::filesystem::path& dir, Net& net, Opt* opt) {
  return detail::ckpt::load<typename Net::value_type>(dir, Net::signature(), detail::ckpt::parts_of(net, opt));
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
    if (!written_by_dead_process(std::string_view(suffix).substr(5))) continue;  // still running
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

// Renames a damaged checkpoint folder `dir` to `<dir>.corrupt-<n>` (the first n from 1 not
// taken), next to it, so that it no longer counts as a checkpoint and nothing is deleted.
// Returns the new path.
inline std::filesystem::path set_aside_checkpoint(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  const fs::path d = detail::ckpt::normalised(dir);
  for (std::uint64_t n = 1;; ++n) {
    const fs::path aside = detail::ckpt::sibling(d, ".corrupt-" + std::to_string(n));
    std::error_code ec;
    if (fs::exists(aside, ec) || ec) continue;
    fs::rename(d, aside);
    fsync_path(d.has_parent_path() ? d.parent_path() : fs::path("."), true);
    return aside;
  }
}

}  // namespace rhonet
