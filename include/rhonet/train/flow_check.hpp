// flow_check: checks, step by step, the norm dynamics the theory derives for gradient flow
// (docs/theory.md, "Gradient flow"), on a run that follows the flow: full-batch SGD without
// momentum at a small lr, square loss. It writes flow.csv in a run folder, one row per
// observation.
//
// Time: with the mean loss (1/N) sum_n ||g_n - y_n||^2 and PyTorch-style weight decay wd, a
// step of lr eta advances tau = sum of the lrs by eta; the theory's sum-form time is t = N tau
// (and lambda = N wd / 2). Rates below are d/dtau.
//
// Each row first has, in train mode (the batch statistics of the full batch, the function the
// flow follows; an observation's eval mode uses running statistics instead):
//   sum_yg, sum_gg  sum_n <y_n, g_n> and sum_n ||g_n||^2
//   rho, rho_eq     rho of the model and sum_n <y_n, f_n> / (lambda + sum_n ||f_n||^2), f = g / rho
//   lemma1_res      the last layer's stationarity residual (observe/lemma1.hpp; the multi-class form for
//                   more than one output)
// For weight layer k with rho_k = ||W_k|| (the scale of a weight-normalised layer), the data
// loss's radial derivative is a_k = <W_k, grad_k L> / rho_k. Homogeneity gives it in closed form:
//   a layer the output is homogeneous of degree 1 in (a factoring layer, compile-time):
//     a_k = (2c / rho_k) (sum_n ||g_n||^2 - sum_n <y_n, g_n>),  c = 1/N (mean) or 1 (sum)
//     (binary: (2c rho / rho_k)(rho sum f^2 - sum y f), the paper's formula with g = rho f);
//   a layer the output is scale-invariant in (one a batch norm follows): a_k = 0.
// and the flow moves the norm at d rho_k / dtau = -a_k - wd_k rho_k (wd_k = 0 when the layer's
// parameter is not decayed). Per layer, each row has
//   rho_k         the norm at this row's step
//   radial_res_k  |a_k measured by backprop - a_k of the closed form| / ||grad_k L|| at this
//                 step: how far the identity holds (for a scale-invariant layer,
//                 |cos(W_k, grad_k L)|; batch norm's eps keeps it from 0 where the
//                 pre-activation variance is near eps)
//   rate_k        measured d rho_k / dtau since the previous row: (change of rho_k) / (change of tau)
//   pred_k        the closed form's rate, integrated step by step (trapezoid) over the same window
//   flow_res_k    |rate_k - pred_k| / (mean over the window of ||grad_k L|| + wd_k rho_k): how
//                 closely the discrete run follows the flow (0 for the flow itself)
//   step_res_k    the largest one-step form of flow_res_k in the window: a discrete run that
//                 oscillates about the flow (full-batch GD at the edge of stability, where the
//                 sharpness has risen to 2 / lr) shows here, and averages out in flow_res_k
// The observer needs the trainer's output of each step (step_report::out) and refuses a run
// that does not follow the flow (another optimiser, momentum, mini-batches, another loss).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <set>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include <rhonet/io/checked_file.hpp>
#include <rhonet/observe/lemma1.hpp>
#include <rhonet/train/csv_log.hpp>
#include <rhonet/train/trainer.hpp>

namespace rhonet {

template <class T>
class flow_check final : public run_observer<T> {
 public:
  explicit flow_check(std::filesystem::path folder) : dir_(std::move(folder)) {}

  void on_begin(trainer<T>& t) override {
    const trainer_options& o = t.options();
    const auto* sq = std::get_if<square_loss>(&o.loss);
    if (o.adam || o.adamw || o.sgd.momentum != 0 || o.sgd.nesterov || o.batch < t.train_set().size() || !sq)
      throw std::invalid_argument(
          "rhonet::flow_check: the run does not follow gradient flow; it needs SGD without momentum on the "
          "full batch (batch " + std::to_string(o.batch) + " >= " + std::to_string(t.train_set().size()) +
          " training samples) and the square loss");
    if (o.update_in_backward)
      throw std::invalid_argument(
          "rhonet::flow_check: it compares each gradient with the weights before the update, and "
          "update_in_backward updates them inside the backward pass; train this run without it");
    c_ = sq->red == reduction::mean ? 1.0 / double(t.train_set().size()) : 1.0;
    lambda_ = t.lambda();
    layers_.clear();
    for (parameter<T>* p : t.net().parameters())
      if (p->role == param_role::weight || p->role == param_role::wn_scale)
        layers_.push_back({p, o.sgd.decay_roles.count(p->role) ? o.sgd.weight_decay : 0.0});
    const std::size_t K = t.net().norms().layer.size();
    if (layers_.size() != K)
      throw std::logic_error("rhonet::flow_check: " + std::to_string(layers_.size()) + " weights or scales for " +
                             std::to_string(K) + " weight layers");
    for (std::size_t k : t.net().factoring_layers()) layers_.at(k - 1).kind = layer_kind::factoring;
    for (std::size_t k : t.net().scale_invariant_layers()) layers_.at(k - 1).kind = layer_kind::invariant;
    have_prev_ = have_row_ = false;

    namespace fs = std::filesystem;
    fs::create_directories(dir_);
    const fs::path file = dir_ / "flow.csv";
    const bool append = t.resumed_from_epoch() > 0 && fs::exists(file);
    if (append) detail::keep_csv_rows_up_to(file, t.steps());
    csv_.open(file, append);
    if (!append) {
      std::string h = "tau,iter,sum_yg,sum_gg,rho,rho_eq,lemma1_res";
      for (std::size_t k = 1; k <= K; ++k)
        for (const char* c : {"rho_", "radial_res_", "rate_", "pred_", "flow_res_", "step_res_"})
          h += "," + std::string(c) + std::to_string(k);
      csv_.write_line(h);
    }
    tau_ = window_tau_ = t.options().sgd.lr * double(t.steps());  // constant lr before a resume
  }

  void on_backward(trainer<T>& t, const step_report<T>& r) override {
    if (!r.out) return;
    const T* g = r.out->data();
    const T* y = r.target.data();
    double syg = 0, sgg = 0;
    for (std::size_t i = 0, n = r.out->size(); i < n; ++i) {
      syg += double(y[i]) * double(g[i]);
      sgg += double(g[i]) * double(g[i]);
    }
    row_.sum_yg = syg;
    row_.sum_gg = sgg;
    const double rho = t.net().rho();
    row_.rho = rho;
    row_.rho_eq = rho > 0 ? (syg / rho) / (lambda_ + sgg / (rho * rho)) : std::nan("");
    row_.lemma1_res = std::nan("");
    if (r.out->shape()[1] == 1) {
      const std::size_t N = r.out->shape()[0];
      y_.resize(N);
      score_.resize(N);
      for (std::size_t n = 0; n < N; ++n) y_[n] = double(y[n]), score_[n] = double(g[n]);
      row_.lemma1_res = stationarity_residual(t.net().features(), y_, score_, t.net().last_layer_rows(), scratch_);
    } else {
      row_.lemma1_res = stationarity_residual_multiclass(t.net().features(), *r.out, r.target, t.net().last_layer_rows());
    }
    row_.iter = r.step - 1;  // the state measured: after r.step - 1 updates
    row_.tau = tau_;
    row_.layers.resize(layers_.size());
    for (std::size_t k = 0; k < layers_.size(); ++k) {
      layer& L = layers_[k];
      double ww = 0, wg = 0, gg = 0;
      const T* w = L.p->value.data();
      const T* d = L.p->grad.data();
      for (std::size_t i = 0, n = L.p->size(); i < n; ++i) {
        ww += double(w[i]) * double(w[i]);
        wg += double(w[i]) * double(d[i]);
        gg += double(d[i]) * double(d[i]);
      }
      const double rho_k = std::sqrt(ww), gnorm = std::sqrt(gg);
      const double a = rho_k > 0 ? wg / rho_k : 0;
      double a_th = std::nan("");
      if (L.kind == layer_kind::factoring && rho_k > 0) a_th = 2 * c_ / rho_k * (sgg - syg);
      if (L.kind == layer_kind::invariant) a_th = 0;
      const double pred = -a_th - L.wd * rho_k, speed = gnorm + L.wd * rho_k;
      layer_values& v = row_.layers[k];
      v.rho = rho_k;
      v.radial_res = gnorm > 0 ? std::abs(a - a_th) / gnorm : 0;
      if (have_prev_) {  // the step just taken: from the previous state to this one
        const double trap = prev_lr_ * (pred + L.prev_pred) / 2, dspeed = prev_lr_ * std::max(speed, L.prev_speed);
        const double res = std::abs(rho_k - L.prev_rho - trap);
        v.step_res = std::max(v.step_res, dspeed > 0 ? res / dspeed : 0);
        L.window_pred += trap;
        L.window_speed += dspeed;
      } else {
        L.window_rho = rho_k;
      }
      L.prev_rho = rho_k;
      L.prev_pred = pred;
      L.prev_speed = speed;
    }
    have_row_ = true;
    have_prev_ = true;
    prev_lr_ = t.optimizer().lr();
    tau_ += prev_lr_;
  }

  void on_observe(trainer<T>&, const observation&) override {
    if (!have_row_) return;
    std::string s = observation::num(row_.tau) + "," + std::to_string(row_.iter) + "," +
                    observation::num(row_.sum_yg) + "," + observation::num(row_.sum_gg) + "," +
                    observation::num(row_.rho) + "," + observation::num(row_.rho_eq) + "," +
                    observation::num(row_.lemma1_res);
    const double dtau = row_.tau - window_tau_;
    for (std::size_t k = 0; k < layers_.size(); ++k) {
      layer& L = layers_[k];
      layer_values& v = row_.layers[k];
      const double nan = std::nan("");
      const double rate = dtau > 0 ? (v.rho - L.window_rho) / dtau : nan, pred = dtau > 0 ? L.window_pred / dtau : nan;
      const double res = L.window_speed > 0 ? std::abs(v.rho - L.window_rho - L.window_pred) / L.window_speed : nan;
      for (double x : {v.rho, v.radial_res, rate, pred, dtau > 0 ? res : nan, dtau > 0 ? v.step_res : nan})
        s += "," + observation::num(x);
      v.step_res = 0;
      L.window_rho = v.rho;
      L.window_pred = L.window_speed = 0;
    }
    window_tau_ = row_.tau;
    csv_.write_line(s);
  }

  void on_end(trainer<T>&, const run_outcome&) override { csv_.close(); }

 private:
  enum class layer_kind { factoring, invariant, other };
  struct layer {
    parameter<T>* p;
    double wd;
    layer_kind kind = layer_kind::other;
    double prev_rho = 0, prev_pred = 0, prev_speed = 0;
    double window_rho = 0, window_pred = 0, window_speed = 0;  // since the previous row
  };
  struct layer_values {
    double rho = 0, radial_res = 0, step_res = 0;
  };
  struct row {
    double tau = 0, sum_yg = 0, sum_gg = 0, rho = 0, rho_eq = 0, lemma1_res = 0;
    std::size_t iter = 0;
    std::vector<layer_values> layers;
  };

  std::filesystem::path dir_;
  checked_file csv_;
  std::vector<layer> layers_;
  row row_;
  std::vector<double> y_, score_, scratch_;
  double lambda_ = 0, c_ = 1, tau_ = 0, prev_lr_ = 0, window_tau_ = 0;
  bool have_prev_ = false, have_row_ = false;
};

}  // namespace rhonet
