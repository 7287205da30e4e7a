// observation: one row of observations.csv and one of margins.csv (docs/run-format.md), and
// observe(), which fills every column but epoch, iter, lr and seconds (set by the caller).
//
// The columns are defined once, in observation_columns below: the CSV header and rows, the
// JSON of summary.json and the column section of docs/run-format.md are generated from that
// table (test_run_format fails when the docs and the table disagree).
//
// Binary tasks (one output with y = +-1, or two outputs with one-hot targets and the score
// out_0 - out_1): the paper's quantities with f_n = s_n / rho. More than two outputs (one-hot
// targets): f_n = g_n / rho is a vector, the margin is f_{n,y} - max_{c != y} f_{n,c},
// sum_yf = sum_n <y_n, f_n>, sum_f2 = sum_n ||f_n||^2, mean_abs_f the mean of ||f_n||, and
// neural collapse is over the C classes (docs/observables.md).
//
// lambda is the weight decay of the sum-form loss L = sum_n (g_n - y_n)^2 + lambda sum_k ||W_k||^2.
// With PyTorch-style weight decay wd (the update adds wd * W to the gradient) on the mean
// square loss (1/N) sum_n (g_n - y_n)^2 over N training samples, lambda = N * wd / 2:
// (1/N) L_sum has gradient (1/N) dL/dW + (2 lambda / N) W, so wd = 2 lambda / N.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <type_traits>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <rhonet/data/dataset.hpp>
#include <rhonet/model.hpp>
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
  double nc1 = 0, nc2 = 0, nc2_cos = 0, nc3 = 0, nc4 = 0;
  double residual = 0;
  double seconds = 0;
  std::vector<double> norms;  // norm_1 .. norm_K
  std::array<double, margin_quantile_count> margin_quantiles{};  // q000 .. q100

  static std::string csv_header(std::size_t weight_layers);
  std::string csv_row() const;
  static std::string margins_csv_header();
  std::string margins_csv_row() const;
  // {column: value} for every column (non-finite values become null).
  nlohmann::json to_json() const;

  // Full precision (%.9g); non-finite values print as nan / inf / -inf.
  static std::string num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return buf;
  }
};

// One column of observations.csv: its name, how to read it from an observation, whether it
// is an integer, and what it means (the text of docs/run-format.md).
struct observation_column {
  const char* name;
  double (*get)(const observation&);
  bool integer;
  const char* meaning;
};

#define RHONET_COLUMN(field, meaning) \
  observation_column { #field, [](const observation& o) { return double(o.field); }, false, meaning }

// The fixed columns, in CSV order; norm_1 .. norm_K (one per weight layer) follow them.
inline std::span<const observation_column> observation_columns() {
  static const observation_column columns[] = {
      RHONET_COLUMN(epoch, "epochs completed (fractional during the first epoch: iter / batches per epoch)"),
      {"iter", [](const observation& o) { return double(o.iter); }, true, "SGD steps taken"},
      RHONET_COLUMN(lr, "learning rate in force"),
      RHONET_COLUMN(train_loss, "the training loss (square or cross-entropy), mean over samples, whole training set, eval mode"),
      RHONET_COLUMN(train_error, "fraction of training samples misclassified"),
      RHONET_COLUMN(test_loss, "the same loss on the test set"),
      RHONET_COLUMN(test_error, "fraction of test samples misclassified"),
      RHONET_COLUMN(rho, "product of the norms of the layers the output is homogeneous in (compile-time): g = rho f"),
      RHONET_COLUMN(rho_all, "plain product of all layer norms"),
      RHONET_COLUMN(rho_bn, "the group's BN-aware rho: prod ||W_k|| prod ||sqrt(gamma_j)|| / prod ||sigma_j||"),
      RHONET_COLUMN(rho_eq, "sum_n <y_n, f_n> / (lambda + sum_n ||f_n||^2), lambda the WD of the sum-form loss"),
      RHONET_COLUMN(rho_eq0, "the same with lambda = 0"),
      RHONET_COLUMN(sum_yf, "sum_n <y_n, f_n> over the training set (binary: sum_n y_n f_n)"),
      RHONET_COLUMN(sum_f2, "sum_n ||f_n||^2 over the training set"),
      RHONET_COLUMN(mean_abs_f, "mean of |f_n| (binary) or ||f_n|| (multi-class)"),
      RHONET_COLUMN(margin_min, "smallest margin: y_n f_n (binary), f_{n,y} - max_{c != y} f_{n,c} (multi-class)"),
      RHONET_COLUMN(margin_mean, "mean margin over the training set"),
      RHONET_COLUMN(margin_std, "standard deviation of the margins (population)"),
      RHONET_COLUMN(margin_cv, "margin_std / margin_mean"),
      RHONET_COLUMN(rho_margin_mean, "rho * margin_mean (about 1 at an interpolant)"),
      RHONET_COLUMN(norm_ratio, "max_k rho_k / min_k rho_k over the weight layers (Lemma 1 (2))"),
      RHONET_COLUMN(nc1, "Tr(Sigma_W Sigma_B^+) / C on the features entering the last layer"),
      RHONET_COLUMN(nc2, "std / mean of ||mu_c - mu_G|| (mu_G the global mean)"),
      RHONET_COLUMN(nc2_cos, "mean |cos(mu_c - mu_G, mu_c' - mu_G) + 1/(C-1)| over c != c'"),
      RHONET_COLUMN(nc3, "binary: 1 - cos(w, mu_+ - mu_-); multi-class: ||W^T/||W|| - M/||M|| ||_F"),
      RHONET_COLUMN(nc4, "fraction of samples where the nearest class mean differs from the network's decision"),
      RHONET_COLUMN(residual, "relative norm of the last layer's stationarity residual (Lemma 1 (3))"),
      RHONET_COLUMN(seconds, "wall time since the start of training (including time before a resume)"),
  };
  return columns;
}
#undef RHONET_COLUMN

// Markdown table of the columns (the generated section of docs/run-format.md).
inline std::string observation_columns_markdown() {
  std::string s = "| column | meaning |\n|---|---|\n";
  for (const auto& c : observation_columns()) {
    std::string meaning;
    for (const char* p = c.meaning; *p; ++p) meaning += *p == '|' ? std::string("\\|") : std::string(1, *p);
    s += std::string("| ") + c.name + " | " + meaning + " |\n";
  }
  s += "| norm_1 .. norm_K | rho_k of each weight layer, in order |\n";
  return s;
}

inline std::string observation::csv_header(std::size_t weight_layers) {
  std::string s;
  for (const auto& c : observation_columns()) {
    if (!s.empty()) s += ',';
    s += c.name;
  }
  for (std::size_t k = 1; k <= weight_layers; ++k) s += ",norm_" + std::to_string(k);
  return s;
}

inline std::string observation::csv_row() const {
  std::string s;
  bool first = true;
  for (const auto& c : observation_columns()) {
    if (!first) s += ',';
    first = false;
    s += c.integer ? std::to_string(std::uint64_t(c.get(*this))) : num(c.get(*this));
  }
  for (double v : norms) s += ',' + num(v);
  return s;
}

inline std::string observation::margins_csv_header() {
  std::string s = "epoch,iter";
  char buf[8];
  for (std::size_t k = 0; k < margin_quantile_count; ++k) {
    std::snprintf(buf, sizeof buf, ",q%03zu", k);
    s += buf;
  }
  return s;
}

inline std::string observation::margins_csv_row() const {
  std::string s = num(epoch) + ',' + std::to_string(iter);
  for (double v : margin_quantiles) s += ',' + num(v);
  return s;
}

inline nlohmann::json observation::to_json() const {
  auto value = [](double d) { return std::isfinite(d) ? nlohmann::json(d) : nlohmann::json(nullptr); };
  nlohmann::json j = nlohmann::json::object();
  for (const auto& c : observation_columns())
    j[c.name] = c.integer ? nlohmann::json(std::uint64_t(c.get(*this))) : value(c.get(*this));
  for (std::size_t k = 0; k < norms.size(); ++k) j["norm_" + std::to_string(k + 1)] = value(norms[k]);
  return j;
}

// The buffers observe() reuses between observations.
template <class T>
struct observer_buffers {
  evaluator<T> train{}, test{};
  std::vector<double> margins, residual;
};

// Stationarity residual of a multi-class last layer W (C x F rows): with E = Y - G (N x C)
// and R = E^T H (C x F), the part of R orthogonal to W, relative: ||R - <R, V> V|| /
// sum_n ||e_n|| ||h_n||, V = W / ||W||. NaN without a classifier; 0 at exact interpolation.
template <class T>
double stationarity_residual_multiclass(const matrix<T>& h, const matrix<T>& g, const matrix<T>& target,
                                        std::span<const double> w);

// Evaluates the model on train (with features) and test, and fills every observation column
// except epoch, iter, lr and seconds. Margins, rho_eq, neural collapse and the residual are
// over the training set; `loss` is the loss reported in train_loss and test_loss.
template <class T>
observation observe(model<T>& net, const dataset<T>& train, const dataset<T>& test, double lambda,
                    observer_buffers<T>& buf, const training_loss& loss = square_loss{reduction::mean});

template <class Net, class T>
  requires(!std::is_base_of_v<model<T>, Net>)
observation observe(Net& net, const dataset<T>& train, const dataset<T>& test, double lambda,
                    observer_buffers<T>& buf, const training_loss& loss = square_loss{reduction::mean}) {
  model_of<Net> m(net);
  return observe(static_cast<model<T>&>(m), train, test, lambda, buf, loss);
}

template <class Net, class T>
observation observe(Net& net, const dataset<T>& train, const dataset<T>& test, double lambda) {
  observer_buffers<T> buf;
  return observe(net, train, test, lambda, buf);
}

template <class T>
double stationarity_residual_multiclass(const matrix<T>& h, const matrix<T>& g, const matrix<T>& target,
                                        std::span<const double> w) {
  const std::size_t N = h.shape()[0], F = h.shape()[1], C = g.shape()[1];
  if (w.size() != C * F) return std::numeric_limits<double>::quiet_NaN();
  double ww = 0;
  for (double x : w) ww += x * x;
  if (!(ww > 0)) return std::numeric_limits<double>::quiet_NaN();
  std::vector<double> R(C * F, 0.0);
  double denom = 0;
  for (std::size_t n = 0; n < N; ++n) {
    const T* hn = h.data() + n * F;
    double ee = 0, hh = 0;
    for (std::size_t i = 0; i < F; ++i) hh += double(hn[i]) * double(hn[i]);
    for (std::size_t c = 0; c < C; ++c) {
      const double e = double(target(n, c)) - double(g(n, c));
      ee += e * e;
      for (std::size_t i = 0; i < F; ++i) R[c * F + i] += e * double(hn[i]);
    }
    denom += std::sqrt(ee) * std::sqrt(hh);
  }
  double rv = 0;
  for (std::size_t k = 0; k < R.size(); ++k) rv += R[k] * w[k];
  rv /= ww;  // <R, V> V = (<R, W> / ||W||^2) W
  double rr = 0;
  for (std::size_t k = 0; k < R.size(); ++k) {
    const double x = R[k] - rv * w[k];
    rr += x * x;
  }
  return denom == 0 ? 0.0 : std::sqrt(rr) / denom;
}

template <class T>
observation observe(model<T>& net, const dataset<T>& train, const dataset<T>& test, double lambda,
                    observer_buffers<T>& buf, const training_loss& loss) {
  observation o;
  const evaluation<T>& te = buf.test.run(net, test, false, loss);
  o.test_loss = te.loss;
  o.test_error = te.error;
  const evaluation<T>& tr = buf.train.run(net, train, true, loss);
  o.train_loss = tr.loss;
  o.train_error = tr.error;

  const norm_observation nrm = net.norms();
  o.rho = nrm.rho;
  o.rho_all = nrm.rho_all;
  o.rho_bn = nrm.rho_bn;
  o.norm_ratio = nrm.ratio;
  o.norms = nrm.layer;

  const std::size_t C = tr.outputs();
  const bool binary = C <= 2;
  const std::vector<double> rows = net.last_layer_rows();
  margin_observation m;
  nc_observation nc;
  if (binary) {
    m = observe_margins(tr.y, tr.f, tr.rho, lambda, buf.margins);
    // The binary classifier direction: the last layer's row for one output, W_0 - W_1 for two.
    std::vector<double> w;
    if (!rows.empty()) {
      const std::size_t F = rows.size() / C;
      w.assign(rows.begin(), rows.begin() + std::ptrdiff_t(F));
      if (C == 2)
        for (std::size_t i = 0; i < F; ++i) w[i] -= rows[F + i];
    }
    nc = neural_collapse_binary(tr.features, tr.y, w, tr.score);
    o.residual = stationarity_residual(tr.features, tr.y, tr.score, w, buf.residual);
  } else {
    m = observe_multiclass_margins(tr.output.data(), tr.size(), C, tr.cls, tr.rho, lambda, buf.margins);
    std::vector<int> decision(tr.size());
    for (std::size_t n = 0; n < tr.size(); ++n) decision[n] = int(detail::argmax_row(tr.output.data() + n * C, C));
    nc = neural_collapse(tr.features, tr.cls, C, decision, rows);
    o.residual = stationarity_residual_multiclass(tr.features, tr.output, train.target, rows);
  }
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
  o.nc1 = nc.nc1;
  o.nc2 = nc.nc2;
  o.nc2_cos = nc.nc2_cos;
  o.nc3 = nc.nc3;
  o.nc4 = nc.nc4;
  return o;
}

}  // namespace rhonet
