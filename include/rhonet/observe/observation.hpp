// observation: one row of observations.csv and one of margins.csv (docs/run-format.md), and
// observe(), which fills every column but epoch, iter, lr and seconds (set by the caller).
//
// lambda is the weight decay of the sum-form loss L = sum_n (g_n - y_n)^2 + lambda sum_k ||W_k||^2.
// With PyTorch-style weight decay wd (the update adds wd * W to the gradient) on the mean
// square loss (1/N) sum_n (g_n - y_n)^2 over N training samples, lambda = N * wd / 2:
// (1/N) L_sum has gradient (1/N) dL/dW + (2 lambda / N) W, so wd = 2 lambda / N.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <rhonet/data/dataset.hpp>
#include <rhonet/observe/evaluate.hpp>
#include <rhonet/observe/lemma1.hpp>
#include <rhonet/observe/margins.hpp>
#include <rhonet/observe/neural_collapse.hpp>
#include <rhonet/observe/norms.hpp>

namespace rhonet {

// lambda of the sum-form loss from PyTorch-style weight decay on the mean loss over N samples.
inline double sum_form_lambda(double weight_decay, std::size_t train_size) {
  return double(train_size) * weight_decay / 2;
}

struct observation {
  double epoch = 0;
  std::uint64_t iter = 0;
  double lr = 0;
  double train_loss = 0, train_error = 0, test_loss = 0, test_error = 0;
  double rho = 0, rho_all = 0, rho_bn = 0, rho_eq = 0, rho_eq0 = 0;
  double sum_yf = 0, sum_f2 = 0, mean_abs_f = 0;
  double margin_min = 0, margin_mean = 0, margin_std = 0, margin_cv = 0, rho_margin_mean = 0;
  double norm_ratio = 0;
  double nc1 = 0, nc2 = 0, nc3 = 0, nc4 = 0;
  double residual = 0;
  double seconds = 0;
  std::vector<double> norms;  // norm_1 .. norm_K
  std::array<double, margin_quantile_count> margin_quantiles{};  // q000 .. q100

  // The columns before norm_1 .. norm_K.
  static constexpr std::array<const char*, 27> fixed_columns{
      "epoch", "iter", "lr", "train_loss", "train_error", "test_loss", "test_error",
      "rho", "rho_all", "rho_bn", "rho_eq", "rho_eq0", "sum_yf", "sum_f2", "mean_abs_f",
      "margin_min", "margin_mean", "margin_std", "margin_cv", "rho_margin_mean", "norm_ratio",
      "nc1", "nc2", "nc3", "nc4", "residual", "seconds"};

  static std::string csv_header(std::size_t weight_layers) {
    std::string s;
    for (const char* c : fixed_columns) {
      if (!s.empty()) s += ',';
      s += c;
    }
    for (std::size_t k = 1; k <= weight_layers; ++k) s += ",norm_" + std::to_string(k);
    return s;
  }

  // Full precision (%.9g); non-finite values print as nan / inf / -inf.
  std::string csv_row() const {
    std::string s = num(epoch) + ',' + std::to_string(iter);
    for (double v : {lr, train_loss, train_error, test_loss, test_error, rho, rho_all, rho_bn,
                     rho_eq, rho_eq0, sum_yf, sum_f2, mean_abs_f, margin_min, margin_mean,
                     margin_std, margin_cv, rho_margin_mean, norm_ratio, nc1, nc2, nc3, nc4,
                     residual, seconds})
      s += ',' + num(v);
    for (double v : norms) s += ',' + num(v);
    return s;
  }

  static std::string margins_csv_header() {
    std::string s = "epoch,iter";
    char buf[8];
    for (std::size_t k = 0; k < margin_quantile_count; ++k) {
      std::snprintf(buf, sizeof buf, ",q%03zu", k);
      s += buf;
    }
    return s;
  }

  std::string margins_csv_row() const {
    std::string s = num(epoch) + ',' + std::to_string(iter);
    for (double v : margin_quantiles) s += ',' + num(v);
    return s;
  }

  static std::string num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return buf;
  }
};

// The buffers observe() reuses between observations.
template <class T>
struct observer_buffers {
  evaluator<T> train{}, test{};
  std::vector<double> margins, residual;
};

// Evaluates net on train (with features) and test, and fills every observation column except
// epoch, iter, lr and seconds. Margins, rho_eq, neural collapse and the residual are over the
// training set. Needs a binary task (1 or 2 outputs).
template <class Net, class T>
observation observe(Net& net, const dataset<T>& train, const dataset<T>& test, double lambda,
                    observer_buffers<T>& buf) {
  static_assert(Net::output_size == 1 || Net::output_size == 2,
                "rhonet::observe: the observables are defined for a binary task (1 or 2 outputs)");
  observation o;
  const evaluation<T>& te = buf.test.run(net, test, false);
  o.test_loss = te.loss;
  o.test_error = te.error;
  const evaluation<T>& tr = buf.train.run(net, train, true);
  o.train_loss = tr.loss;
  o.train_error = tr.error;

  const norm_observation nrm = observe_norms(net);
  o.rho = nrm.rho;
  o.rho_all = nrm.rho_all;
  o.rho_bn = nrm.rho_bn;
  o.norm_ratio = nrm.ratio;
  o.norms = nrm.layer;

  const margin_observation m = observe_margins(tr.y, tr.f, tr.rho, lambda, buf.margins);
  o.rho_eq = m.rho_eq;
  o.rho_eq0 = m.rho_eq0;
  o.sum_yf = m.sum_yf;
  o.sum_f2 = m.sum_f2;
  o.mean_abs_f = m.mean_abs_f;
  o.margin_min = m.min;
  o.margin_mean = m.mean;
  o.margin_std = m.stddev;
  o.margin_cv = m.cv;
  o.rho_margin_mean = m.rho_margin_mean;
  o.margin_quantiles = m.quantiles;

  const std::vector<double> w = last_layer_direction(net);
  const nc_observation nc = neural_collapse_binary(tr.features, tr.y, w, tr.score);
  o.nc1 = nc.nc1;
  o.nc2 = nc.nc2;
  o.nc3 = nc.nc3;
  o.nc4 = nc.nc4;
  o.residual = stationarity_residual(tr.features, tr.y, tr.score, w, buf.residual);
  return o;
}

template <class Net, class T>
observation observe(Net& net, const dataset<T>& train, const dataset<T>& test, double lambda) {
  observer_buffers<T> buf;
  return observe(net, train, test, lambda, buf);
}

}  // namespace rhonet
