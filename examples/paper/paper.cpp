// paper: reproduces the experiments of Poggio & Liao on real data (two classes of
// Fashion-MNIST by default, CIFAR-10's binary batches when given), writes per-run CSV and
// JSON (docs/run-format.md), then figures and REPORT.md (report.py).
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <sstream>
#include <thread>

#include <rhonet/rhonet.hpp>

#include "experiment.hpp"

extern "C" void openblas_set_num_threads(int);  // OpenBLAS reads its env only at load time

namespace fs = std::filesystem;
using paper::setting;

namespace {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

// The three settings of the paper; `paper_preset` chooses its epochs, else `quick`.
setting named_setting(const std::string& name, bool paper_preset) {
  setting s;
  s.name = name;
  if (name == "fc-bn-wd") {
    s.arch = "fc4", s.bn = true, s.wd = 0.01, s.lr = 0.1, s.epochs = paper_preset ? 1000 : 12;
  } else if (name == "conv-bn-nowd") {
    s.arch = "conv4", s.bn = true, s.wd = 0, s.lr = 0.01, s.epochs = paper_preset ? 1000 : 4;
  } else if (name == "plain") {
    s.arch = "fc4", s.bn = false, s.wd = 0, s.lr = 0.1, s.epochs = paper_preset ? 1000 : 12;
  } else {
    throw CLI::ValidationError("--experiment", "unknown setting '" + name +
                                                   "' (fc-bn-wd, conv-bn-nowd, plain, custom)");
  }
  return s;
}

paper::data load_data(const std::string& spec, int a, int b, std::size_t outputs,
                      std::size_t limit_train, std::size_t limit_test) {
  using namespace rhonet;
  paper::data d;
  dataset<float> train, test;
  if (spec == "fashion-mnist") {
    train = load_fashion_mnist<float>(split::train);
    test = load_fashion_mnist<float>(split::test);
    d.name = "fashion-mnist";
  } else if (spec.rfind("cifar10:", 0) == 0) {
    const fs::path folder = spec.substr(8);
    train = load_cifar10<float>(split::train, folder);
    test = load_cifar10<float>(split::test, folder);
    d.name = "cifar10";
  } else {
    throw CLI::ValidationError("--data", "expected fashion-mnist or cifar10:FOLDER, got '" + spec + "'");
  }
  std::optional<std::size_t> lt, ls;
  if (limit_train) lt = limit_train;
  if (limit_test) ls = limit_test;
  d.image_train = make_binary_task(train, a, b, outputs, lt);
  d.image_test = make_binary_task(test, a, b, outputs, ls);
  d.channels = d.image_train.channels;
  d.side = d.image_train.height;
  d.outputs = outputs;
  standardise_per_channel(d.image_train, d.image_test);
  scale_to_unit_norm(d.image_train);
  scale_to_unit_norm(d.image_test);
  d.flat_train = d.image_train;
  d.flat_test = d.image_test;
  append_bias(d.flat_train);
  append_bias(d.flat_test);
  return d;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Reproduce Poggio & Liao's experiments: train the paper's networks with the "
               "square loss and report rho, margins and neural collapse against the predictions."};
  std::string experiment = "fc-bn-wd,conv-bn-nowd,plain", preset = "quick", data_spec = "fashion-mnist";
  std::string inits = "0.1,1,5", classes = "2,4", arch, bn, out = "out/paper";
  double lr = -1, momentum = -1, wd = -1, fallback = 0;
  std::size_t epochs = 0, batch = 0, outputs = 1, limit_train = 0, limit_test = 0;
  std::uint64_t seed = 1;
  int threads = 0;
  bool no_report = false, quiet = false;
  app.add_option("--experiment", experiment,
                 "settings, comma-separated: fc-bn-wd, conv-bn-nowd, plain, or custom (with --arch/--bn/--wd)")
      ->capture_default_str();
  app.add_option("--preset", preset, "quick (minutes) or paper (the paper's 1000 epochs)")
      ->check(CLI::IsMember({"quick", "paper"}))->capture_default_str();
  app.add_option("--arch", arch, "custom setting: fc4 or conv4")->check(CLI::IsMember({"fc4", "conv4"}));
  app.add_option("--bn", bn, "custom setting: on or off")->check(CLI::IsMember({"on", "off"}));
  app.add_option("--init", inits, "Frobenius norms of every weight matrix at init, comma-separated")
      ->capture_default_str();
  app.add_option("--lr", lr, "learning rate (default: the preset's, 0.1 FC, 0.01 conv)");
  app.add_option("--fallback-lr-factor", fallback,
                 "if a run diverges, run it again with lr times this factor (up to twice); off by default")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--momentum", momentum, "SGD momentum (default 0.9)");
  app.add_option("--wd", wd, "weight decay, PyTorch's semantics (default: the setting's)");
  app.add_option("--epochs", epochs, "epochs (default: the preset's)");
  app.add_option("--batch", batch, "batch size (default 128)");
  app.add_option("--seed", seed, "seed of init and shuffling")->capture_default_str();
  app.add_option("--data", data_spec, "fashion-mnist, or cifar10:FOLDER (the binary batches)")
      ->capture_default_str();
  app.add_option("--classes", classes, "the two classes a,b (a -> +1, b -> -1)")->capture_default_str();
  app.add_option("--outputs", outputs, "1 (labels +-1) or 2 (one-hot)")->check(CLI::IsMember({1, 2}))
      ->capture_default_str();
  app.add_option("--limit-train", limit_train, "use only the first N training samples (0: all)");
  app.add_option("--limit-test", limit_test, "use only the first N test samples (0: all)");
  app.add_option("--threads", threads, "BLAS threads (default: OpenBLAS's own choice)");
  app.add_option("--out", out, "output folder")->capture_default_str();
  app.add_flag("--no-report", no_report, "skip figures and REPORT.md");
  app.add_flag("--quiet", quiet, "no per-epoch progress lines");
  CLI11_PARSE(app, argc, argv);

  try {
    if (threads > 0) openblas_set_num_threads(threads);
    const bool paper_preset = preset == "paper";
    const auto cls = split_list(classes);
    if (cls.size() != 2) throw CLI::ValidationError("--classes", "expected two classes a,b");
    std::vector<setting> settings;
    for (const auto& name : split_list(experiment)) {
      setting s;
      if (name == "custom") {
        if (arch.empty() || bn.empty() || wd < 0)
          throw CLI::ValidationError("--experiment custom", "needs --arch, --bn and --wd");
        s.arch = arch, s.bn = bn == "on", s.wd = wd, s.lr = arch == "fc4" ? 0.1 : 0.01;
        s.epochs = paper_preset ? 1000 : (arch == "fc4" ? 12 : 4);
        std::ostringstream n;
        n << arch << "-" << (s.bn ? "bn" : "nobn") << "-" << (wd > 0 ? "wd" : "nowd");
        s.name = n.str();
      } else {
        s = named_setting(name, paper_preset);
      }
      if (lr > 0) s.lr = lr;
      if (momentum >= 0) s.momentum = momentum;
      if (wd >= 0 && name != "custom") s.wd = wd;
      if (epochs > 0) s.epochs = epochs;
      if (batch > 0) s.batch = batch;
      s.init_labels = split_list(inits);
      s.inits.clear();
      for (const auto& l : s.init_labels) s.inits.push_back(std::stod(l));
      settings.push_back(s);
    }

    std::printf("loading %s, classes %s vs %s ...\n", data_spec.c_str(), cls[0].c_str(), cls[1].c_str());
    const paper::data d = load_data(data_spec, std::stoi(cls[0]), std::stoi(cls[1]), outputs,
                                    limit_train, limit_test);
    std::printf("%zu training and %zu test samples, %zu x %zu x %zu\n", d.image_train.size(),
                d.image_test.size(), d.channels, d.side, d.side);

    const fs::path out_dir = out;
    fs::create_directories(out_dir);
    nlohmann::json manifest;
    std::string cmd;
    for (int i = 0; i < argc; ++i) cmd += (i ? " " : "") + std::string(argv[i]);
    const auto now = std::time(nullptr);
    char when[64];
    std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    manifest["command"] = cmd;
    manifest["started"] = when;
    manifest["preset"] = preset;
    manifest["data"] = {{"name", d.name}, {"classes", {cls[0], cls[1]}}, {"train", d.image_train.size()},
                        {"test", d.image_test.size()}, {"outputs", outputs},
                        {"preprocessing", "per-channel standardisation, unit L2 norm, bias component for FC"}};
    manifest["machine"] = {{"hardware_threads", std::thread::hardware_concurrency()},
                           {"blas_threads", threads > 0 ? std::to_string(threads) : "default"}};
    manifest["settings"] = nlohmann::json::array();
    for (const auto& s : settings)
      manifest["settings"].push_back({{"name", s.name}, {"arch", s.arch}, {"bn", s.bn}, {"wd", s.wd},
                                      {"lr", s.lr}, {"momentum", s.momentum}, {"epochs", s.epochs},
                                      {"batch", s.batch}, {"inits", s.init_labels}});
    rhonet::write_file_atomically(out_dir / "manifest.json", manifest.dump(2) + "\n");

    const paper::run_options ro{out_dir, seed, !quiet};
    const auto t0 = std::chrono::steady_clock::now();
    int diverged = 0;
    for (auto& s : settings)
      for (std::size_t i = 0; i < s.inits.size(); ++i) {
        setting f = s;
        bool ok = paper::run_one(f, i, d, ro);
        for (int attempt = 0; !ok && fallback > 0 && attempt < 2; ++attempt) {
          f.lr *= fallback;
          f.fallback_from = s.lr;
          std::printf("[%s, init %s] the paper's lr %g diverged; running again with lr %g "
                      "(--fallback-lr-factor)\n", s.name.c_str(), s.init_labels[i].c_str(), s.lr, f.lr);
          ok = paper::run_one(f, i, d, ro);
        }
        diverged += !ok;
      }
    manifest["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    manifest["diverged_runs"] = diverged;
    rhonet::write_file_atomically(out_dir / "manifest.json", manifest.dump(2) + "\n");

    if (!no_report) {
      const std::string script = RHONET_PAPER_REPORT_SCRIPT;
      const std::string python = fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
      std::fflush(stdout);
      const std::string call = python + " '" + script + "' '" + out_dir.string() + "'";
      if (std::system(call.c_str()) != 0) {
        std::fprintf(stderr, "paper: the report step failed (%s)\n", call.c_str());
        return 1;
      }
    }
    std::printf("\nresults: %s\n", fs::absolute(out_dir).c_str());
    if (!no_report) {
      std::printf("report:  %s\n", fs::absolute(out_dir / "REPORT.md").c_str());
      std::printf("figures: %s\n", fs::absolute(out_dir / "figures").c_str());
    }
    if (diverged > 0) {
      std::fprintf(stderr, "paper: %d run(s) diverged (see their summary.json and the report)\n", diverged);
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "paper: %s\n", e.what());
    return 1;
  }
}
