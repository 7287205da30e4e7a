// libFuzzer harness: a checkpoint folder with a fuzzed manifest.json and one fuzzed .npy file
// loaded into a small BN network with its optimizer.
//
// Input: byte 0 selects the tensor file to replace (0: none); then the manifest text up to the
// first NUL byte (empty: keep the valid one); after it, the bytes of that .npy file. The other
// files stay those of a valid checkpoint written at start-up (in $TMPDIR, or /dev/shm if
// present: the harness writes two small files per input). load_checkpoint must either load or
// throw rhonet::data_error (or std::invalid_argument for a mismatched optimizer); a partial
// load is a finding too (the net must be untouched when it throws).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <unistd.h>

#include <rhonet/init.hpp>
#include <rhonet/io/checkpoint.hpp>
#include <rhonet/layers/batch_norm.hpp>
#include <rhonet/layers/dense.hpp>
#include <rhonet/layers/input.hpp>
#include <rhonet/layers/relu.hpp>
#include <rhonet/loss.hpp>
#include <rhonet/network.hpp>
#include <rhonet/optim.hpp>

namespace fs = std::filesystem;
using net_t = rhonet::network<rhonet::input<3>, rhonet::dense<2>, rhonet::batch_norm<>, rhonet::relu, rhonet::dense<1>>;

namespace {
struct fixture {
  fs::path dir;
  std::string manifest;
  std::vector<std::string> files;     // tensor files, in manifest order
  std::vector<std::string> contents;  // their valid bytes
  net_t net;
  rhonet::sgd<float> opt{net.parameters(), {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01}};
  std::vector<float> snapshot;

  fixture() {
    const char* shm = "/dev/shm";
    const char* tmp = std::getenv("TMPDIR");
    const fs::path base = fs::is_directory(shm) ? fs::path(shm) : fs::path(tmp ? tmp : "/tmp");
    dir = base / ("rhonet_fuzz_ckpt_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    rhonet::init_kaiming_normal(net.parameters(), 1);
    rhonet::matrix<float> x = rhonet::matrix<float>::from_shape({4, 3}), y = rhonet::matrix<float>::from_shape({4, 1}), g;
    for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = float(i % 5) - 2.f;
    for (std::size_t i = 0; i < y.size(); ++i) y.data()[i] = i % 2 ? 1.f : -1.f;
    rhonet::square_loss{}.loss_and_grad(net.forward(x, rhonet::mode::train), y, g);
    net.backward(g);
    opt.step();
    rhonet::save_checkpoint(dir, net, &opt, {{"epoch", 1}});
    manifest = read(dir / "manifest.json");
    const nlohmann::json m = nlohmann::json::parse(manifest);
    for (const auto& t : m["tensors"]) {
      files.push_back(t["file"].get<std::string>());
      contents.push_back(read(dir / files.back()));
    }
    snapshot = values();
  }
  ~fixture() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  static std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static void write(const fs::path& p, const char* data, std::size_t n) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(data, std::streamsize(n));
  }
  std::vector<float> values() {
    std::vector<float> v;
    for (auto* p : net.parameters()) v.insert(v.end(), p->value.begin(), p->value.end());
    for (auto* b : net.buffers()) v.insert(v.end(), b->value.begin(), b->value.end());
    for (const auto& m : opt.buffers()) v.insert(v.end(), m.begin(), m.end());
    return v;
  }
};
fixture* fx = nullptr;
}  // namespace

// With RHONET_FUZZ_SEEDS=DIR set, writes the seed corpus (one valid input per tensor file,
// and the manifest alone) into DIR and exits.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fx = new fixture();
  std::atexit([] { delete fx; });
  if (const char* seeds = std::getenv("RHONET_FUZZ_SEEDS")) {
    fs::create_directories(seeds);
    for (std::size_t i = 0; i <= fx->files.size(); ++i) {
      std::string in(1, char(i));
      in += fx->manifest;
      if (i > 0) in += std::string(1, '\0') + fx->contents[i - 1];
      fixture::write(fs::path(seeds) / ("seed-" + std::to_string(i)), in.data(), in.size());
    }
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t which = data[0] % (fx->files.size() + 1);
  const char* text = reinterpret_cast<const char*>(data + 1);
  const std::size_t rest = size - 1;
  const char* nul = static_cast<const char*>(std::memchr(text, 0, rest));
  const std::size_t mlen = nul ? std::size_t(nul - text) : rest;
  if (mlen > 0) fixture::write(fx->dir / "manifest.json", text, mlen);
  if (which > 0 && nul) fixture::write(fx->dir / fx->files[which - 1], nul + 1, rest - mlen - 1);
  bool threw = false;
  try {
    rhonet::load_checkpoint(fx->dir, fx->net, &fx->opt);
  } catch (const rhonet::data_error&) {
    threw = true;
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  if (threw && fx->values() != fx->snapshot) __builtin_trap();  // a failed load changed the net
  // Back to the valid checkpoint and state for the next input.
  if (mlen > 0) fixture::write(fx->dir / "manifest.json", fx->manifest.data(), fx->manifest.size());
  if (which > 0 && nul)
    fixture::write(fx->dir / fx->files[which - 1], fx->contents[which - 1].data(), fx->contents[which - 1].size());
  if (!threw) rhonet::load_checkpoint(fx->dir, fx->net, &fx->opt);
  if (fx->values() != fx->snapshot) __builtin_trap();
  return 0;
}
