#include "runtime/mtp_policy.h"

#include <cmath>

#include "model/weights.h"

namespace ds {

namespace {

double mlp_bytes(const MlpWeights& w) {
  return w.empty() ? 0.0 : double(w.gate.n_bytes() + w.up.n_bytes() + w.down.n_bytes());
}

double attn_bytes(const MlaWeights& a) {
  double b = 0;
  for (const WeightView* v : {&a.q_a, &a.q_b, &a.q, &a.kv_a, &a.kv_b, &a.k_b, &a.v_b, &a.o})
    if (!v->empty()) b += double(v->n_bytes());
  return b;
}

}  // namespace

std::vector<double> mtp_bytes_per_token(const Model& m, double accept, int max_draft) {
  const ModelConfig& c = m.config;
  const double E = double(c.n_routed_experts), K = double(c.num_experts_per_tok);
  std::vector<double> out;
  for (int k = 0; k <= max_draft; ++k) {
    // Main pass over k+1 tokens: dense parts once, the union of the routed experts.
    const double tokens_in_pass = k + 1;
    double step = double(m.lm_head.n_bytes());
    for (const LayerWeights& L : m.layers) {
      step += attn_bytes(L.attn);
      if (!L.is_moe) {
        step += mlp_bytes(L.dense);
        continue;
      }
      step += double(L.moe.router.n_bytes()) + mlp_bytes(L.moe.shared);
      if (!L.moe.experts.empty()) {
        const double distinct = E * (1.0 - std::pow(1.0 - K / E, tokens_in_pass));
        step += distinct * mlp_bytes(L.moe.experts[0]);
      }
    }
    // Each draft runs the MTP module once: its layer, eh_proj and its vocabulary head.
    if (k > 0 && !m.mtp.empty()) {
      const MtpWeights& t = m.mtp[0];
      double draft =
          attn_bytes(t.layer.attn) + double(t.eh_proj.n_bytes()) + double(t.head.n_bytes());
      draft += t.layer.is_moe
                   ? double(t.layer.moe.router.n_bytes()) + mlp_bytes(t.layer.moe.shared) +
                         (t.layer.moe.experts.empty() ? 0.0 : K * mlp_bytes(t.layer.moe.experts[0]))
                   : mlp_bytes(t.layer.dense);
      step += k * draft;
    }
    // Tokens per step: 1 + a₁ + a₁a₂ + …, with a₁ = accept and later drafts discounted.
    double expected = 1, p = 1;
    for (int i = 1; i <= k; ++i) {
      p *= i == 1 ? accept : accept * kChainedDraftFactor;
      expected += p;
    }
    out.push_back(step / expected);
  }
  return out;
}

double mtp_break_even_accept(const Model& m, int k) {
  if (k <= 0 || m.mtp.empty()) return 0;
  auto pays = [&](double a) {
    const std::vector<double> b = mtp_bytes_per_token(m, a, k);
    return b[size_t(k)] <= b[0];
  };
  if (!pays(1.0)) return 1.0;
  double lo = 0, hi = 1;
  for (int i = 0; i < 30; ++i) {
    const double mid = 0.5 * (lo + hi);
    (pays(mid) ? hi : lo) = mid;
  }
  return hi;
}

int choose_mtp_drafts(const Model& m, double accept, double min_gain) {
  if (m.mtp.empty()) return 0;
  const std::vector<double> b = mtp_bytes_per_token(m, accept);
  int best = 0;
  for (int k = 1; k < int(b.size()); ++k)
    if (b[size_t(k)] < b[size_t(best)]) best = k;
  return b[size_t(best)] <= b[0] * (1.0 - min_gain) ? best : 0;
}

}  // namespace ds
