// Checkpoints: exact round trips (parameters, BN running statistics, SGD momentum, Adam's
// moments), standard npy files, clear errors for every kind of mismatch or damage,
// latest_checkpoint, a bit-exact resume of training; saved models (save_model / load_model)
// with their layers' settings and preprocessing.
#define BOOST_TEST_MODULE rhonet_checkpoint
#include <boost/test/unit_test.hpp>

#include <algorithm>
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

#include <nlohmann/json.hpp>
#include <xtensor/xnpy.hpp>

#include <rhonet/init.hpp>
#include <rhonet/io/checkpoint.hpp>
#include <rhonet/io/model_file.hpp>
#include <rhonet/io/npy.hpp>
#include <rhonet/layers/avg_pool2d.hpp>
#include <rhonet/layers/batch_norm.hpp>
#include <rhonet/layers/conv2d.hpp>
#include <rhonet/layers/dense.hpp>
#include <rhonet/layers/dropout.hpp>
#include <rhonet/layers/flatten.hpp>
#include <rhonet/layers/input.hpp>
#include <rhonet/layers/relu.hpp>
#include <rhonet/layers/weight_norm.hpp>
#include <rhonet/loss.hpp>
#include <rhonet/network.hpp>
#include <rhonet/optim.hpp>
#include <rhonet/predict.hpp>

#include "support/reliability_support.hpp"

namespace fs = std::filesystem;
using rhonet::matrix;
using rhonet_test::bytes_of;

using bn_net = rhonet::network<rhonet::input<6>, rhonet::dense<5>, rhonet::batch_norm<>, rhonet::relu,
                               rhonet::dense<1>>;
using conv_net = rhonet::network<rhonet::input<2, 6, 6>, rhonet::weight_norm<rhonet::conv2d<3, 3, 1, 1>>,
                                 rhonet::relu, rhonet::conv2d<4, 3, 2, 1>,
                                 rhonet::batch_norm<rhonet::affine::scale_shift>, rhonet::relu, rhonet::flatten,
                                 rhonet::dense<1>>;
using deploy_net = rhonet::network<rhonet::input<2, 4, 4>, rhonet::conv2d<3, 3, 1, 1>,
                                   rhonet::batch_norm<rhonet::affine::scale_shift>, rhonet::relu,
                                   rhonet::avg_pool2d<2>, rhonet::flatten, rhonet::dropout<0.5>,
                                   rhonet::dense<4, rhonet::bias::on>, rhonet::batch_norm<>, rhonet::relu,
                                   rhonet::dense<3, rhonet::bias::on>>;
using other_net = rhonet::network<rhonet::input<6>, rhonet::dense<5>, rhonet::relu, rhonet::dense<1>>;

namespace {

// A fresh scratch folder per test, removed afterwards.
struct scratch {
  fs::path root;
  scratch() {
    static int counter = 0;
    root = fs::temp_directory_path() /
           ("rhonet_ckpt_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(root);
    fs::create_directories(root);
  }
  ~scratch() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
};

template <class T>
matrix<T> batch_of(std::size_t rows, std::size_t cols, std::uint64_t seed) {
  rhonet::normal_rng rng(seed);
  matrix<T> m = matrix<T>::from_shape({rows, cols});
  for (auto& v : m) v = T(rng());
  return m;
}

rhonet::sgd_options momentum_options() {
  rhonet::sgd_options o;
  o.lr = 0.05;
  o.momentum = 0.9;
  o.weight_decay = 1e-3;
  return o;
}

// One optimiser step on the square loss for batch `k` (deterministic inputs and targets).
template <class Net>
void train_step(Net& net, rhonet::optimizer<typename Net::value_type>& opt, std::size_t k) {
  using T = typename Net::value_type;
  const matrix<T> x = batch_of<T>(8, Net::input_size, 1000 + k);
  const matrix<T> y = batch_of<T>(8, Net::output_size, 2000 + k);
  const matrix<T>& out = net.forward(x, rhonet::mode::train);
  matrix<T> grad;
  rhonet::square_loss{}.loss_and_grad(out, y, grad);
  opt.zero_grad();
  net.backward(grad);
  opt.step();
}

template <class Net>
void init(Net& net, std::uint64_t seed) {
  rhonet::init_kaiming_normal(net.parameters(), seed);
}

template <class T>
std::vector<unsigned char> opt_bytes(const rhonet::optimizer<T>& opt) {
  std::vector<unsigned char> b;
  for (const auto& m : opt.state()) {
    const auto* c = reinterpret_cast<const unsigned char*>(m.data());
    b.insert(b.end(), c, c + m.size() * sizeof(T));
  }
  return b;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << s;
}

nlohmann::json manifest_of(const fs::path& dir) { return nlohmann::json::parse(read_file(dir / "manifest.json")); }

// The file of the tensor of the given kind and name, from the manifest.
std::string file_of(const fs::path& dir, const std::string& kind, const std::string& name) {
  const nlohmann::json m = manifest_of(dir);
  for (const auto& t : m["tensors"])
    if (t["kind"] == kind && t["name"] == name) return t["file"].get<std::string>();
  BOOST_FAIL("no tensor " + kind + " " + name);
  return {};
}

// Runs f, which must throw rhonet::data_error whose message contains every one of `parts`.
template <class F>
void expect_data_error(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
  } catch (const rhonet::data_error& e) {
    const std::string msg = e.what();
    BOOST_TEST_MESSAGE("data_error: " << msg);
    for (const std::string& p : parts) BOOST_TEST(msg.find(p) != std::string::npos, "'" << p << "' in: " << msg);
    return;
  }
  BOOST_FAIL("expected rhonet::data_error");
}

// A trained BN net with its optimizer and a saved checkpoint at root/ckpt-3.
struct saved_bn {
  scratch s;
  bn_net net;
  rhonet::sgd<float> opt{net.parameters(), momentum_options()};
  fs::path dir;
  saved_bn() {
    init(net, 7);
    for (std::size_t k = 0; k < 3; ++k) train_step(net, opt, k);
    dir = rhonet::checkpoint_path(s.root, 3);
    rhonet::save_checkpoint(dir, net, &opt, {{"epoch", 1}, {"iter", 3}});
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(bn_net_round_trip_is_exact) {
  saved_bn a;
  BOOST_TEST(fs::is_regular_file(a.dir / "manifest.json"));
  bn_net b;
  init(b, 99);
  rhonet::sgd<float> opt_b(b.parameters(), momentum_options());
  BOOST_TEST_REQUIRE((bytes_of(b) != bytes_of(a.net)));
  const nlohmann::json extra = rhonet::load_checkpoint(a.dir, b, &opt_b);
  BOOST_TEST((bytes_of(b) == bytes_of(a.net)));
  BOOST_TEST((opt_bytes(opt_b) == opt_bytes(a.opt)));
  BOOST_TEST(opt_b.step_count() == 3u);
  BOOST_TEST(opt_b.buffers_initialised());
  BOOST_TEST(extra["epoch"] == 1);
  BOOST_TEST(extra["iter"] == 3);
  // BN running statistics moved away from their defaults and came back exactly.
  BOOST_TEST(b.layer<1>().running_mean()(0) != 0.0f);
  BOOST_TEST(b.layer<1>().running_mean()(0) == a.net.layer<1>().running_mean()(0));
  // The storage was not reallocated.
  const float* before = b.parameters()[0]->value.data();
  rhonet::load_checkpoint(a.dir, b, &opt_b);
  BOOST_TEST(b.parameters()[0]->value.data() == before);
}

BOOST_AUTO_TEST_CASE(manifest_describes_everything) {
  saved_bn a;
  const nlohmann::json m = manifest_of(a.dir);
  BOOST_TEST(m["format_version"] == 2);
  BOOST_TEST(m["signature"].get<std::string>() == bn_net::signature());
  BOOST_TEST(m["dtype"] == "float32");
  BOOST_TEST(m["optimizer"]["step_count"] == 3);
  BOOST_TEST(m["optimizer"]["buffers_initialised"] == true);
  BOOST_TEST(m["optimizer"]["lr"].get<double>() == 0.05);
  BOOST_TEST(m["optimizer"]["momentum"].get<double>() == 0.9);
  BOOST_TEST(m["optimizer"]["weight_decay"].get<double>() == 1e-3);
  BOOST_TEST(m["extra"]["iter"] == 3);
  // 2 dense weights + 2 BN buffers + 2 momentum buffers.
  BOOST_TEST(m["tensors"].size() == 6u);
  for (const auto& t : m["tensors"]) BOOST_TEST(fs::is_regular_file(a.dir / t["file"].get<std::string>()));
  const auto w1 = std::find_if(m["tensors"].begin(), m["tensors"].end(), [](const auto& t) {
    return t["kind"] == "parameter" && t["name"] == "layer1.weight";
  });
  BOOST_TEST_REQUIRE((w1 != m["tensors"].end()));
  BOOST_TEST((*w1)["role"] == "weight");
  BOOST_TEST(((*w1)["shape"] == nlohmann::json::array({5, 6})));
  // No temporary or old folder left behind.
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(a.s.root)) ++entries;
  BOOST_TEST(entries == 1u);
}

BOOST_AUTO_TEST_CASE(conv_weight_norm_round_trip_is_exact) {
  scratch s;
  conv_net a;
  init(a, 3);
  rhonet::sgd<float> opt_a(a.parameters(), momentum_options());
  for (std::size_t k = 0; k < 2; ++k) train_step(a, opt_a, k);
  const fs::path dir = s.root / "ckpt-2";
  rhonet::save_checkpoint(dir, a, &opt_a, {{"rng", "12345 678"}});
  // The conv kernels are saved in their logical shape.
  const nlohmann::json m = manifest_of(dir);
  bool saw_conv = false, saw_direction = false;
  for (const auto& t : m["tensors"]) {
    if (t["kind"] == "parameter" && t["name"] == "layer3.weight") {
      saw_conv = true;
      BOOST_TEST((t["shape"] == nlohmann::json::array({4, 3, 3, 3})));
    }
    if (t["kind"] == "parameter" && t["role"] == "wn_direction") {
      saw_direction = true;
      BOOST_TEST((t["shape"] == nlohmann::json::array({3, 2, 3, 3})));
    }
  }
  BOOST_TEST(saw_conv);
  BOOST_TEST(saw_direction);

  conv_net b;
  init(b, 4);
  rhonet::sgd<float> opt_b(b.parameters(), momentum_options());
  const nlohmann::json extra = rhonet::load_checkpoint(dir, b, &opt_b);
  BOOST_TEST((bytes_of(b) == bytes_of(a)));
  BOOST_TEST((opt_bytes(opt_b) == opt_bytes(opt_a)));
  BOOST_TEST(extra["rng"] == "12345 678");
  // Same outputs in eval mode (running statistics included).
  const matrix<float> x = batch_of<float>(4, conv_net::input_size, 77);
  const matrix<float> ya = a.forward(x, rhonet::mode::eval);
  const matrix<float> yb = b.forward(x, rhonet::mode::eval);
  BOOST_TEST(std::memcmp(ya.data(), yb.data(), ya.size() * sizeof(float)) == 0);
}

BOOST_AUTO_TEST_CASE(double_net_and_no_optimizer) {
  scratch s;
  using dnet = bn_net::rebind<double>;
  dnet a;
  init(a, 5);
  const fs::path dir = s.root / "model";
  rhonet::save_checkpoint(dir, a);
  BOOST_TEST(manifest_of(dir)["optimizer"].is_null());
  BOOST_TEST(manifest_of(dir)["dtype"] == "float64");
  dnet b;
  const nlohmann::json extra = rhonet::load_checkpoint(dir, b);
  BOOST_TEST((bytes_of(b) == bytes_of(a)));
  BOOST_TEST(extra.is_object());
  // Asking for optimizer state that was never saved is an error.
  rhonet::sgd<double> opt(b.parameters(), momentum_options());
  expect_data_error([&] { rhonet::load_checkpoint(dir, b, &opt); }, {"manifest.json", "optimizer state"});
}

BOOST_AUTO_TEST_CASE(npy_files_are_standard) {
  saved_bn a;
  const std::string file = file_of(a.dir, "parameter", "layer1.weight");
  const std::string bytes = read_file(a.dir / file);
  BOOST_TEST_REQUIRE(bytes.size() > 10u);
  BOOST_TEST(bytes.compare(0, 6, std::string("\x93NUMPY", 6)) == 0);
  BOOST_TEST(int(bytes[6]) == 1);
  BOOST_TEST(int(bytes[7]) == 0);
  const std::size_t hlen = std::size_t((unsigned char)bytes[8]) | std::size_t((unsigned char)bytes[9]) << 8;
  BOOST_TEST((10 + hlen) % 64 == 0u);
  const std::string dict = bytes.substr(10, hlen);
  BOOST_TEST(dict.rfind("{'descr': '<f4', 'fortran_order': False, 'shape': (5, 6), }", 0) == 0u);
  BOOST_TEST(dict.back() == '\n');
  BOOST_TEST(bytes.size() == 10 + hlen + 30 * sizeof(float));
  // The data is the value matrix, row-major.
  const auto& w = a.net.parameters()[0]->value;
  BOOST_TEST(std::memcmp(bytes.data() + 10 + hlen, w.data(), 30 * sizeof(float)) == 0);
  // xtensor's own reader agrees, for a 2-D parameter and a 1-D buffer.
  const auto loaded = xt::load_npy<float>((a.dir / file).string());
  BOOST_TEST_REQUIRE(loaded.dimension() == 2u);
  BOOST_TEST(loaded.shape()[0] == 5u);
  BOOST_TEST(loaded.shape()[1] == 6u);
  BOOST_TEST(std::memcmp(loaded.data(), w.data(), 30 * sizeof(float)) == 0);
  const std::string mean_file = file_of(a.dir, "buffer", "layer2.running_mean");
  const auto mean = xt::load_npy<float>((a.dir / mean_file).string());
  BOOST_TEST_REQUIRE(mean.dimension() == 1u);
  BOOST_TEST(mean.shape()[0] == 5u);
  BOOST_TEST(std::memcmp(mean.data(), a.net.layer<1>().running_mean().data(), 5 * sizeof(float)) == 0);
  // numpy, if this machine has it (optional).
  if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0) {
    const std::string cmd = "/usr/bin/python3 -c \"import numpy as np, sys; a = np.load(sys.argv[1]); "
                            "sys.exit(0 if a.shape == (5, 6) and a.dtype == np.float32 else 1)\" '" +
                            (a.dir / file).string() + "'";
    BOOST_TEST(std::system(cmd.c_str()) == 0);
  } else {
    BOOST_TEST_MESSAGE("numpy not available; skipped the numpy.load check");
  }
}

BOOST_AUTO_TEST_CASE(different_network_names_both_signatures) {
  saved_bn a;
  other_net b;
  expect_data_error([&] { rhonet::load_checkpoint(a.dir, b); },
                    {"manifest.json", bn_net::signature(), other_net::signature()});
}

BOOST_AUTO_TEST_CASE(float_checkpoint_into_double_net) {
  saved_bn a;
  bn_net::rebind<double> b;
  expect_data_error([&] { rhonet::load_checkpoint(a.dir, b); }, {"manifest.json", "float64", "float32"});
}

BOOST_AUTO_TEST_CASE(npy_with_wrong_dtype) {
  saved_bn a;
  const std::string file = file_of(a.dir, "parameter", "layer1.weight");
  // A hand-made '<f8' file of the right shape, written by xtensor.
  xt::xtensor<double, 2> w = xt::zeros<double>({5, 6});
  xt::dump_npy((a.dir / file).string(), w);
  bn_net b;
  init(b, 1);
  const auto before = bytes_of(b);
  expect_data_error([&] { rhonet::load_checkpoint(a.dir, b); }, {file, "'<f4'", "'<f8'", "layer1.weight"});
  // Nothing was overwritten by the failed load.
  BOOST_TEST((bytes_of(b) == before));
}

BOOST_AUTO_TEST_CASE(npy_with_wrong_shape) {
  saved_bn a;
  const std::string file = file_of(a.dir, "parameter", "layer1.weight");
  std::vector<float> v(30, 1.0f);
  rhonet::npy::write<float>((a.dir / file).string(), v.data(), {6, 5});  // same size, transposed shape
  bn_net b;
  expect_data_error([&] { rhonet::load_checkpoint(a.dir, b); }, {file, "shape (5, 6)", "shape (6, 5)"});
}

BOOST_AUTO_TEST_CASE(missing_tensor_file) {
  saved_bn a;
  const std::string file = file_of(a.dir, "buffer", "layer2.running_var");
  fs::remove(a.dir / file);
  bn_net b;
  expect_data_error([&] { rhonet::load_checkpoint(a.dir, b); }, {file, "layer2.running_var", "no such file"});
}

BOOST_AUTO_TEST_CASE(truncated_npy) {
  saved_bn a;
  const std::string file = file_of(a.dir, "momentum", "layer4.weight");
  const fs::path p = a.dir / file;
  const auto size = fs::file_size(p);
  bn_net b;
  rhonet::sgd<float> opt(b.parameters(), momentum_options());
  // Truncated data.
  fs::resize_file(p, size - 3);
  expect_data_error([&] { rhonet::load_checkpoint(a.dir, b, &opt); }, {file, "truncated"});
  // Truncated inside the header.
  fs::resize_file(p, 30);
  expect_data_error([&] { rhonet::load_checkpoint(a.dir, b, &opt); }, {file, "truncated header"});
  // Not an npy file at all.
  write_file(p, "hello");
  expect_data_error([&] { rhonet::load_checkpoint(a.dir, b, &opt); }, {file, "npy magic"});
  // Trailing garbage.
  rhonet::save_checkpoint(a.dir, a.net, &a.opt);
  write_file(p, read_file(p) + "xx");
  expect_data_error([&] { rhonet::load_checkpoint(a.dir, b, &opt); }, {file, "2 trailing bytes"});
}

BOOST_AUTO_TEST_CASE(corrupt_or_missing_manifest) {
  saved_bn a;
  bn_net b;
  const std::string text = read_file(a.dir / "manifest.json");
  write_file(a.dir / "manifest.json", text.substr(0, text.size() / 2));
  expect_data_error([&] { rhonet::load_checkpoint(a.dir, b); }, {"manifest.json", "valid JSON"});
  write_file(a.dir / "manifest.json", "[1, 2]");
  expect_data_error([&] { rhonet::load_checkpoint(a.dir, b); }, {"manifest.json", "JSON object"});
  nlohmann::json m = nlohmann::json::parse(text);
  m.erase("signature");
  write_file(a.dir / "manifest.json", m.dump());
  expect_data_error([&] { rhonet::load_checkpoint(a.dir, b); }, {"manifest.json", "'signature'"});
  fs::remove(a.dir / "manifest.json");
  expect_data_error([&] { rhonet::load_checkpoint(a.dir, b); }, {"manifest.json", "no such file"});
  expect_data_error([&] { rhonet::load_checkpoint(a.s.root / "nowhere", b); }, {"manifest.json"});
}

BOOST_AUTO_TEST_CASE(optimizer_hyperparameters_must_match) {
  saved_bn a;
  bn_net b;
  rhonet::sgd_options o = momentum_options();
  o.momentum = 0.5;
  rhonet::sgd<float> opt(b.parameters(), o);
  BOOST_CHECK_THROW(rhonet::load_checkpoint(a.dir, b, &opt), std::invalid_argument);
  // lr is restored (it is state, often set by a schedule).
  rhonet::sgd_options o2 = momentum_options();
  o2.lr = 1.0;
  rhonet::sgd<float> opt2(b.parameters(), o2);
  rhonet::load_checkpoint(a.dir, b, &opt2);
  BOOST_TEST(opt2.lr() == 0.05);
}

BOOST_AUTO_TEST_CASE(overwrite_replaces_atomically) {
  saved_bn a;
  const auto first = bytes_of(a.net);
  train_step(a.net, a.opt, 10);
  rhonet::save_checkpoint(a.dir, a.net, &a.opt, {{"epoch", 2}});
  bn_net b;
  rhonet::sgd<float> opt(b.parameters(), momentum_options());
  const nlohmann::json extra = rhonet::load_checkpoint(a.dir, b, &opt);
  BOOST_TEST(extra["epoch"] == 2);
  BOOST_TEST((bytes_of(b) == bytes_of(a.net)));
  BOOST_TEST((bytes_of(b) != first));
  BOOST_TEST(opt.step_count() == 4u);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(a.s.root)) names.push_back(e.path().filename().string());
  BOOST_TEST(names.size() == 1u);
  BOOST_TEST(names.at(0) == "ckpt-3");
  // A trailing separator names the same folder.
  rhonet::save_checkpoint(a.dir.string() + "/", a.net, &a.opt);
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(a.s.root)) ++count;
  BOOST_TEST(count == 1u);
}

BOOST_AUTO_TEST_CASE(latest_checkpoint_ignores_partial_folders) {
  scratch s;
  BOOST_TEST(!rhonet::latest_checkpoint(s.root / "missing").has_value());
  BOOST_TEST(!rhonet::latest_checkpoint(s.root).has_value());
  bn_net net;
  init(net, 2);
  rhonet::save_checkpoint(rhonet::checkpoint_path(s.root, 5), net);
  rhonet::save_checkpoint(rhonet::checkpoint_path(s.root, 12), net);
  rhonet::save_checkpoint(s.root / "ckpt-9", net);
  // Leftovers of an interrupted save: a temp folder (even with a manifest), an old folder,
  // a folder without manifest, and unrelated names.
  fs::copy(s.root / "ckpt-12", s.root / "ckpt-99.tmp-4242");
  fs::copy(s.root / "ckpt-12", s.root / "ckpt-98.old-4242");
  fs::create_directories(s.root / "ckpt-40");
  fs::create_directories(s.root / "ckpt-x1");
  write_file(s.root / "ckpt-50", "a file, not a folder");
  fs::copy(s.root / "ckpt-12", s.root / "ckpt--3");
  const auto latest = rhonet::latest_checkpoint(s.root);
  BOOST_TEST_REQUIRE(latest.has_value());
  BOOST_TEST(latest->filename().string() == "ckpt-12");
  bn_net b;
  rhonet::load_checkpoint(*latest, b);
  BOOST_TEST((bytes_of(b) == bytes_of(net)));
}

BOOST_AUTO_TEST_CASE(resume_is_bit_exact) {
  scratch s;
  bn_net a;
  init(a, 11);
  rhonet::sgd<float> opt_a(a.parameters(), momentum_options());
  for (std::size_t k = 0; k < 3; ++k) train_step(a, opt_a, k);
  rhonet::save_checkpoint(rhonet::checkpoint_path(s.root, 3), a, &opt_a, {{"iter", 3}});
  for (std::size_t k = 3; k < 6; ++k) train_step(a, opt_a, k);
  const auto expected = bytes_of(a);
  const auto expected_opt = opt_bytes(opt_a);

  bn_net b;
  init(b, 12);
  rhonet::sgd<float> opt_b(b.parameters(), momentum_options());
  const auto latest = rhonet::latest_checkpoint(s.root);
  BOOST_TEST_REQUIRE(latest.has_value());
  const nlohmann::json extra = rhonet::load_checkpoint(*latest, b, &opt_b);
  const std::size_t start = extra["iter"].get<std::size_t>();
  BOOST_TEST(start == 3u);
  for (std::size_t k = start; k < 6; ++k) train_step(b, opt_b, k);
  BOOST_TEST((bytes_of(b) == expected));
  BOOST_TEST((opt_bytes(opt_b) == expected_opt));
  BOOST_TEST(opt_b.step_count() == 6u);

  // Control: without the optimizer state (momentum restarting) the result differs.
  bn_net c;
  rhonet::sgd<float> opt_c(c.parameters(), momentum_options());
  rhonet::load_checkpoint(*latest, c);
  for (std::size_t k = start; k < 6; ++k) train_step(c, opt_c, k);
  BOOST_TEST((bytes_of(c) != expected));
}

// Adam keeps two moments per parameter and a step count (its bias correction): a resumed
// Adam continues bit-exactly; a checkpoint of another optimiser type or other betas is refused.
BOOST_AUTO_TEST_CASE(adam_resume_is_bit_exact) {
  scratch s;
  const rhonet::adam_options o{.lr = 0.01, .betas = {0.8, 0.99}, .weight_decay = 1e-2};
  bn_net a;
  init(a, 11);
  rhonet::adam<float> opt_a(a.parameters(), o);
  for (std::size_t k = 0; k < 3; ++k) train_step(a, opt_a, k);
  const fs::path dir = s.root / "ckpt-3";
  rhonet::save_checkpoint(dir, a, &opt_a);
  for (std::size_t k = 3; k < 6; ++k) train_step(a, opt_a, k);
  const nlohmann::json m = manifest_of(dir);
  BOOST_TEST(m["optimizer"]["type"] == "adam");
  BOOST_TEST(m["optimizer"]["beta1"] == 0.8);
  BOOST_TEST(file_of(dir, "exp_avg_sq", a.parameters()[0]->name).find("exp_avg_sq-000") == 0u);

  bn_net b;
  init(b, 12);
  rhonet::adam<float> opt_b(b.parameters(), o);
  rhonet::load_checkpoint(dir, b, &opt_b);
  BOOST_TEST(opt_b.step_count() == 3u);
  for (std::size_t k = 3; k < 6; ++k) train_step(b, opt_b, k);
  BOOST_TEST((bytes_of(b) == bytes_of(a)));
  BOOST_TEST((opt_bytes(opt_b) == opt_bytes(opt_a)));

  // Control: the weights alone (moments and step count restarting) give another trajectory.
  bn_net c;
  rhonet::adam<float> opt_c(c.parameters(), o);
  rhonet::load_checkpoint(dir, c);
  for (std::size_t k = 3; k < 6; ++k) train_step(c, opt_c, k);
  BOOST_TEST((bytes_of(c) != bytes_of(a)));

  bn_net d;
  rhonet::adamw<float> opt_w(d.parameters(), {.lr = 0.01, .betas = {0.8, 0.99}, .weight_decay = 1e-2});
  expect_data_error([&] { rhonet::load_checkpoint(dir, d, &opt_w); },
                    {"manifest.json", "(optimizer)", "optimizer type \"adamw\"", "found \"adam\""});
  rhonet::sgd<float> opt_s(d.parameters(), momentum_options());
  expect_data_error([&] { rhonet::load_checkpoint(dir, d, &opt_s); }, {"optimizer type \"sgd\"", "found \"adam\""});
  rhonet::adam<float> opt_o(d.parameters(), {.lr = 0.01, .weight_decay = 1e-2});
  BOOST_CHECK_EXCEPTION(rhonet::load_checkpoint(dir, d, &opt_o), std::invalid_argument,
                        [](const std::invalid_argument& e) { return std::string(e.what()).find("betas") != std::string::npos; });
  BOOST_TEST(opt_o.step_count() == 0u);  // nothing was applied
}

BOOST_AUTO_TEST_CASE(resume_conv_weight_norm_is_bit_exact) {
  scratch s;
  conv_net a;
  init(a, 21);
  rhonet::sgd<float> opt_a(a.parameters(), momentum_options());
  for (std::size_t k = 0; k < 3; ++k) train_step(a, opt_a, k);
  rhonet::save_checkpoint(s.root / "ckpt-3", a, &opt_a);
  for (std::size_t k = 3; k < 6; ++k) train_step(a, opt_a, k);
  conv_net b;
  rhonet::sgd<float> opt_b(b.parameters(), momentum_options());
  rhonet::load_checkpoint(s.root / "ckpt-3", b, &opt_b);
  for (std::size_t k = 3; k < 6; ++k) train_step(b, opt_b, k);
  BOOST_TEST((bytes_of(b) == bytes_of(a)));
  BOOST_TEST((opt_bytes(opt_b) == opt_bytes(opt_a)));
}

// ---------------------------------------------------------------------------------------------
// Saved models: the manifest describes each layer's settings; load_model restores weights,
// statistics and batch norm's eps and momentum, returns the preprocessing, and refuses a model
// of another network.
namespace {

// A deploy_net trained a few steps (so that BN statistics and weights are not their initial
// values), with non-default BN eps and momentum.
struct saved_model {
  scratch s;
  deploy_net net;
  rhonet::preprocessing<float> pre;
  fs::path dir;
  saved_model() {
    init(net, 5);
    net.layer<1>().eps = 1e-3f;
    net.layer<1>().momentum = 0.3f;
    net.layer<7>().eps = 2e-4f;
    rhonet::sgd<float> opt(net.parameters(), momentum_options());
    for (std::size_t k = 0; k < 3; ++k) train_step(net, opt, k);
    pre.standardise = rhonet::channel_stats<float>{{0.5f, -0.25f}, {2.f, 0.5f}};
    pre.unit_norm = true;
    dir = s.root / "model";
    rhonet::save_model(net, dir, pre);
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(model_manifest_records_layer_settings) {
  saved_model a;
  const nlohmann::json layers = manifest_of(a.dir)["model"]["layers"];
  BOOST_TEST_REQUIRE(layers.size() == deploy_net::layer_count);
  BOOST_TEST(layers[0]["layer"] == "conv2d<3,3,1,1>");
  BOOST_TEST(layers[0]["stride"] == 1);
  BOOST_TEST(layers[0]["padding"] == 1);
  BOOST_TEST(layers[0]["kernel"] == 3);
  BOOST_TEST((layers[0]["in_shape"] == nlohmann::json::array({2, 4, 4})));
  BOOST_TEST(layers[1]["affine"] == "scale_shift");
  BOOST_TEST(float(layers[1]["eps"].get<double>()) == 1e-3f);
  BOOST_TEST(float(layers[1]["momentum"].get<double>()) == 0.3f);
  BOOST_TEST(layers[3]["kernel"] == 2);
  BOOST_TEST(layers[3]["stride"] == 2);
  BOOST_TEST(layers[5]["p"] == 0.5);
  BOOST_TEST(layers[6]["bias"] == true);
  BOOST_TEST(layers[7]["affine"] == "none");
  BOOST_TEST((layers[9]["out_shape"] == nlohmann::json::array({3})));
  const nlohmann::json pre = manifest_of(a.dir)["model"]["preprocessing"];
  BOOST_TEST((pre["channel_stats"]["mean"] == nlohmann::json::array({0.5, -0.25})));
  BOOST_TEST(pre["unit_norm"] == true);
  BOOST_TEST(pre["bias_input"].is_null());
  BOOST_TEST(manifest_of(a.dir)["optimizer"].is_null());  // a model, not a training state
}

BOOST_AUTO_TEST_CASE(load_model_restores_predictions_settings_and_preprocessing) {
  saved_model a;
  deploy_net b;
  init(b, 99);
  const auto pre = rhonet::load_model(b, a.dir);
  BOOST_TEST((bytes_of(b) == bytes_of(a.net)));
  BOOST_TEST(b.layer<1>().eps == 1e-3f);  // not the default 1e-5
  BOOST_TEST(b.layer<1>().momentum == 0.3f);
  BOOST_TEST(b.layer<7>().eps == 2e-4f);
  BOOST_TEST_REQUIRE(pre.has_value());
  BOOST_TEST(pre->unit_norm);
  BOOST_TEST(!pre->bias_input.has_value());
  BOOST_TEST_REQUIRE(pre->standardise.has_value());
  BOOST_TEST((pre->standardise->stddev == std::vector<float>{2.f, 0.5f}));
  const matrix<float> raw = batch_of<float>(5, 32, 77);
  const matrix<float> expected = rhonet::predict(a.net, a.pre.apply(raw));
  BOOST_TEST((rhonet::predict(b, pre->apply(raw)) == expected));
  // apply: standardised per channel (16 values each), then each row to unit norm.
  const matrix<float> x = pre->apply(raw);
  double n0 = 0;
  for (std::size_t c = 0; c < 32; ++c) n0 += double(x(0, c)) * double(x(0, c));
  BOOST_TEST(std::abs(n0 - 1.0) < 1e-6);
  BOOST_TEST(std::abs(double(x(0, 20)) / double(x(0, 0)) -
                      ((double(raw(0, 20)) + 0.25) / 0.5) / ((double(raw(0, 0)) - 0.5) / 2.0)) < 1e-5);
  // bias_input appends a constant column.
  rhonet::preprocessing<float> with_bias{.bias_input = 1.f};
  const matrix<float> xb = with_bias.apply(raw);
  BOOST_TEST(xb.shape()[1] == 33u);
  BOOST_TEST(xb(4, 32) == 1.f);
  // load_checkpoint restores the settings too; a checkpoint saved with an optimizer loads as a model.
  deploy_net c;
  rhonet::load_checkpoint(a.dir, c);
  BOOST_TEST(c.layer<1>().eps == 1e-3f);
  saved_bn t;
  bn_net d;
  BOOST_TEST(!rhonet::load_model(d, t.dir).has_value());
  BOOST_TEST((bytes_of(d) == bytes_of(t.net)));
}

BOOST_AUTO_TEST_CASE(load_model_refuses_another_network_naming_the_file) {
  saved_model a;
  other_net b;
  init(b, 3);
  const auto before = bytes_of(b);
  expect_data_error([&] { rhonet::load_model(b, a.dir); },
                    {(a.dir / "manifest.json").string(), other_net::signature(), deploy_net::signature()});
  BOOST_TEST((bytes_of(b) == before));
}

// Checkpoints written before the "model" section (and models whose section was removed) load;
// a damaged setting is refused before anything changes.
BOOST_AUTO_TEST_CASE(models_without_settings_load_and_bad_settings_are_refused) {
  saved_model a;
  nlohmann::json m = manifest_of(a.dir);
  nlohmann::json old = m;
  old.erase("model");
  write_file(a.dir / "manifest.json", old.dump());
  deploy_net b;
  BOOST_TEST(!rhonet::load_model(b, a.dir).has_value());
  BOOST_TEST((bytes_of(b) == bytes_of(a.net)));
  BOOST_TEST(b.layer<1>().eps == 1e-5f);  // the network's own, unchanged

  m["model"]["layers"][1]["eps"] = "small";
  write_file(a.dir / "manifest.json", m.dump());
  deploy_net c;
  const auto before = bytes_of(c);
  expect_data_error([&] { rhonet::load_model(c, a.dir); },
                    {"manifest.json", "model.layers[1]", "a finite number 'eps'", "\"small\""});
  BOOST_TEST((bytes_of(c) == before));
  m["model"]["layers"][1]["eps"] = 1e-3;
  m["model"]["preprocessing"]["unit_norm"] = 3;
  write_file(a.dir / "manifest.json", m.dump());
  expect_data_error([&] { rhonet::load_model(c, a.dir); }, {"model.preprocessing", "unit_norm"});
  BOOST_TEST((bytes_of(c) == before));
}
