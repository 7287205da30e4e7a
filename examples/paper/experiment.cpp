// The run of one setting at one init scale (experiment.hpp): the network from nets.hpp behind
// the model interface, trained by rhonet::train with the paper's observables.
#include "data.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>

#include <rhonet/core/blas_kernels.hpp>
#include <rhonet/core/threads.hpp>
#include <rhonet/data/subset.hpp>
#include <rhonet/init.hpp>
#include <rhonet/train.hpp>

#include "nets.hpp"

namespace paper {

namespace {
// A run that ended needs no checkpoints: all go, except damaged ones a resume set aside
// (ckpt-<n>.corrupt-<k>), which nothing deletes; the folder goes if that leaves it empty.
void drop_checkpoints(const std::filesystem::path& dir) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.path().filename().string().find(".corrupt-") == std::string::npos) std::filesystem::remove_all(e.path());
  std::filesystem::remove(dir, ec);  // only if empty
}
}  // namespace

bool run_one(const setting& s, std::size_t init_index, const data& d, const run_options& ro) {
  const bool fc = s.arch == "fc4";
  const rhonet::dataset<float>& all_train = fc ? d.flat_train : d.image_train;
  const rhonet::dataset<float>& test = fc ? d.flat_test : d.image_test;
  // Gradient flow: full-batch GD on the first flow_samples training samples.
  std::optional<rhonet::dataset<float>> flow_train;
  if (s.flow_samples > 0) flow_train = rhonet::head(all_train, std::min(s.flow_samples, all_train.size()));
  const rhonet::dataset<float>& train = flow_train ? *flow_train : all_train;
  const std::string& label = s.init_labels[init_index];
  const std::string title = ro.title.empty() ? run_title(s.name, label, ro.seed, false) : ro.title;
  const auto net = new_network(s, d);
  rhonet::init_frobenius(net->parameters(), s.inits[init_index], ro.seed);
  rhonet::train_options opt;
  opt.epochs = s.epochs;
  opt.batch = flow_train ? train.size() : s.batch;
  opt.seed = ro.seed;
  opt.sgd = {.lr = s.lr, .momentum = s.momentum, .weight_decay = s.wd};
  // The theory's weight normalisation decays the scales rho_k only; the directions live on
  // the unit sphere. (Decaying them too, PyTorch's default, shrinks ||V|| and with it the
  // directions' step size grows without bound.)
  if (s.wn) opt.sgd.decay_roles.erase(rhonet::param_role::wn_direction);
  opt.out_dir = ro.out / (ro.folder.empty() ? run_folder(s.name, label, ro.seed, false) : ro.folder);
  opt.progress = ro.progress;
  opt.checkpoint_dir = checkpoint_dir(opt.out_dir);
  opt.checkpoint_every = checkpoint_every(s.epochs);
  opt.keep_checkpoints = 2;
  opt.resume = ro.resume;
  opt.stop = ro.stop;
  opt.overrides = {ro.overrides.begin(), ro.overrides.end()};
  opt.meta = {{"setting", s.name}, {"arch", s.arch}, {"width", s.arch == "fc4" ? s.width : 0}, {"bn", s.bn},
              {"wn", s.wn}, {"wd", s.wd},
              {"init", s.inits[init_index]}, {"init_label", s.init_labels[init_index]},
              {"lr", s.lr}, {"momentum", s.momentum}, {"batch", s.batch},
              {"epochs", s.epochs}, {"outputs", net->output_size()}, {"seed", ro.seed},
              {"train_samples", train.size()}, {"test_samples", test.size()}, {"flow", s.flow_samples > 0}};
  if (s.fallback_from > 0) opt.meta["diverged_lr"] = s.fallback_from;
  const auto blas = rhonet::blas_kernels_status();
  opt.meta["blas"] = {{"openblas_corename", blas.running}, {"openblas_config", blas.config},
                      {"best_coretype", blas.best}, {"threads", rhonet::threads()}};
  std::printf("%s %s\n", title.c_str(), net->signature().c_str());
  std::fflush(stdout);
  try {
    rhonet::flow_check<float> flow(opt.out_dir);
    std::vector<rhonet::run_observer<float>*> extra;
    if (flow_train) extra.push_back(&flow);
    const auto r = rhonet::train(*net, train, test, opt, extra);
    const auto& f = r.history.back();
    std::printf("%s done in %.1f s: train error %.4f, test error %.4f, rho %.4g, rho_eq %.4g\n",
                title.c_str(), r.seconds,
                f.train_error, f.test_error, f.rho, f.rho_eq);
    drop_checkpoints(opt.checkpoint_dir);
    return true;
  } catch (const rhonet::training_diverged& e) {
    std::printf("%s DIVERGED: %s\n", title.c_str(), e.what());
    drop_checkpoints(opt.checkpoint_dir);
    return false;
  } catch (const rhonet::training_interrupted& e) {
    throw interrupted(e.what(), e.last_checkpoint());
  }
}

}  // namespace paper
