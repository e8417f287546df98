// Feed-forward blocks: the dense SwiGLU MLP and the routed MoE (architecture doc, "MoE layer").
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "model/forward.h"
#include "ops/ops.h"
#include "runtime/thread_pool.h"

namespace ds {

void mlp_ffn(const MlpWeights& w, const float* x, int64_t n, float* y, bool accumulate, float scale,
             Activations& a, ThreadPool& pool) {
  const int64_t I = w.gate.rows, D = w.down.rows;
  const MatmulJob gate_up[2] = {{w.gate, x, n, a.ffn_g.data()}, {w.up, x, n, a.ffn_u.data()}};
  matmul_batch(gate_up, 2, pool);
  parallel_ranges(pool, n, 8 * I, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) silu_mul(a.ffn_g.data() + t * I, a.ffn_u.data() + t * I, I);
  });
  if (!accumulate) {
    matmul(w.down, a.ffn_g.data(), n, y, pool);
    return;
  }
  matmul(w.down, a.ffn_g.data(), n, a.ffn_y.data(), pool);
  parallel_ranges(pool, n * D, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) y[i] += scale * a.ffn_y[size_t(i)];
  });
}

namespace {

// Indices of the k largest values (ties: lower index first), in descending order.
void top_k(const float* v, int64_t n, int64_t k, int32_t* out, std::vector<int32_t>& order) {
  order.resize(size_t(n));
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [&](int32_t a, int32_t b) { return v[a] > v[b] || (v[a] == v[b] && a < b); });
  std::copy_n(order.begin(), k, out);
}

// Up to this many tokens, all the experts a batch uses (and the shared ones) run as one
// matmul_batch for gate and up and one for down: a decode step touches ~8 small matrices per
// projection, and one hand-off to the pool each instead of one per matrix is what it saves.
// Larger batches (prefill) keep one matmul per expert, whose buffers are [n, ·] rather than
// [n·K, ·].
constexpr int64_t kBatchedExpertTokens = 16;

// Buffers of the batched path (grow only; per calling thread).
struct ExpertScratch {
  std::vector<float> in, g, u, y;  // [n·K, D], [n·K + n, I] ×2, [n·K + n, D]
  std::vector<int32_t> first;      // per expert: first gathered row, or -1
  std::vector<MatmulJob> jobs;
};

void moe_experts_batched(const MoeWeights& w, int64_t n, int64_t K, int64_t D, Activations& a,
                         ThreadPool& pool) {
  thread_local ExpertScratch scratch;
  ExpertScratch& sc = scratch;
  const int64_t E = int64_t(w.experts.size());
  const int64_t I = w.experts.empty() ? 0 : w.experts[0].gate.rows;
  const int64_t Is = w.shared.empty() ? 0 : w.shared.gate.rows;
  // Rows gathered per expert in ascending expert order, tokens in order within an expert.
  sc.first.assign(size_t(E), -1);
  std::vector<int32_t> count(size_t(E), 0);
  for (int64_t i = 0; i < n * K; ++i) ++count[size_t(a.topk_idx[size_t(i)])];
  int32_t rows = 0;
  for (int64_t e = 0; e < E; ++e)
    if (count[size_t(e)] > 0) {
      sc.first[size_t(e)] = rows;
      rows += count[size_t(e)];
    }
  const int64_t In = std::max(I, Is);
  sc.in.resize(size_t(rows * D));
  sc.g.resize(size_t((rows + n) * In));
  sc.u.resize(size_t((rows + n) * In));
  sc.y.resize(size_t((rows + n) * D));
  std::vector<int32_t> fill(size_t(E), 0);
  std::vector<int32_t> row_of(size_t(n * K));  // gathered row of (token, k)
  for (int64_t t = 0; t < n; ++t)
    for (int64_t k = 0; k < K; ++k) {
      const int32_t e = a.topk_idx[size_t(t * K + k)];
      const int32_t r = sc.first[size_t(e)] + fill[size_t(e)]++;
      row_of[size_t(t * K + k)] = r;
      std::copy_n(a.xn.data() + t * D, D, sc.in.data() + r * D);
    }
  // Gate and up of every used expert and of the shared experts: one pass.
  sc.jobs.clear();
  for (int64_t e = 0; e < E; ++e) {
    if (sc.first[size_t(e)] < 0) continue;
    const MlpWeights& ew = w.experts[size_t(e)];
    const int64_t r0 = sc.first[size_t(e)], m = count[size_t(e)];
    sc.jobs.push_back({ew.gate, sc.in.data() + r0 * D, m, sc.g.data() + r0 * I});
    sc.jobs.push_back({ew.up, sc.in.data() + r0 * D, m, sc.u.data() + r0 * I});
  }
  float* gs = sc.g.data() + rows * In;  // the shared experts' rows follow
  float* us = sc.u.data() + rows * In;
  if (!w.shared.empty()) {
    sc.jobs.push_back({w.shared.gate, a.xn.data(), n, gs});
    sc.jobs.push_back({w.shared.up, a.xn.data(), n, us});
  }
  matmul_batch(sc.jobs.data(), int(sc.jobs.size()), pool);
  for (int64_t r = 0; r < rows; ++r) silu_mul(sc.g.data() + r * I, sc.u.data() + r * I, I);
  for (int64_t t = 0; t < n; ++t) silu_mul(gs + t * Is, us + t * Is, Is);
  // Down: one pass; the shared experts write the output directly (it starts the sum).
  sc.jobs.clear();
  for (int64_t e = 0; e < E; ++e) {
    if (sc.first[size_t(e)] < 0) continue;
    const int64_t r0 = sc.first[size_t(e)], m = count[size_t(e)];
    sc.jobs.push_back({w.experts[size_t(e)].down, sc.g.data() + r0 * I, m, sc.y.data() + r0 * D});
  }
  if (!w.shared.empty())
    sc.jobs.push_back({w.shared.down, gs, n, a.out.data()});
  else
    std::fill(a.out.begin(), a.out.begin() + n * D, 0.0f);
  matmul_batch(sc.jobs.data(), int(sc.jobs.size()), pool);
  // The same order of additions as the per-expert path: experts ascending, for each token.
  for (int64_t e = 0; e < E; ++e) {
    if (sc.first[size_t(e)] < 0) continue;
    for (int64_t t = 0; t < n; ++t)
      for (int64_t k = 0; k < K; ++k) {
        if (a.topk_idx[size_t(t * K + k)] != e) continue;
        const float wt = a.topk_w[size_t(t * K + k)];
        const float* y = sc.y.data() + row_of[size_t(t * K + k)] * D;
        float* o = a.out.data() + t * D;
        for (int64_t d = 0; d < D; ++d) o[d] += wt * y[d];
      }
  }
}

}  // namespace

void route_token(const ModelConfig& c, const float* logits, const float* bias, int32_t* idx,
                 float* weights, float* work) {
  const int64_t E = c.n_routed_experts, K = c.num_experts_per_tok;
  float* s = work;        // [E] scores
  float* sel = work + E;  // [E] selection scores
  if (c.scoring_func == ScoringFunc::kSigmoid) {
    for (int64_t e = 0; e < E; ++e) s[e] = 1.0f / (1.0f + std::exp(-logits[e]));
  } else {
    std::copy_n(logits, E, s);
    softmax(s, E);
  }
  for (int64_t e = 0; e < E; ++e) sel[e] = s[e] + (bias ? bias[e] : 0.0f);
  thread_local std::vector<int32_t> order;
  if (c.topk_method != TopkMethod::kGreedy && c.n_group > 1) {
    const int64_t G = c.n_group, per = E / G;
    std::vector<float> gscore(static_cast<size_t>(G));
    for (int64_t g = 0; g < G; ++g) {
      const float* gs = sel + g * per;
      if (c.topk_method == TopkMethod::kNoauxTc) {  // sum of the two best selection scores
        float b1 = -std::numeric_limits<float>::infinity(), b2 = b1;
        for (int64_t i = 0; i < per; ++i) {
          if (gs[i] > b1) {
            b2 = b1;
            b1 = gs[i];
          } else if (gs[i] > b2) {
            b2 = gs[i];
          }
        }
        gscore[size_t(g)] = b1 + b2;
      } else {  // group_limited_greedy: the best score in the group
        gscore[size_t(g)] = *std::max_element(s + g * per, s + (g + 1) * per);
      }
    }
    std::vector<int32_t> keep(size_t(c.topk_group));
    top_k(gscore.data(), G, c.topk_group, keep.data(), order);
    std::vector<bool> kept(size_t(G), false);
    for (int32_t g : keep) kept[size_t(g)] = true;
    for (int64_t g = 0; g < G; ++g)
      if (!kept[size_t(g)])
        std::fill(sel + g * per, sel + (g + 1) * per, -std::numeric_limits<float>::infinity());
  }
  top_k(sel, E, K, idx, order);
  double sum = 0;
  for (int64_t k = 0; k < K; ++k) {
    weights[k] = s[idx[k]];  // unbiased score
    sum += weights[k];
  }
  const bool v3 = c.model_type != "deepseek_v2";
  if (c.norm_topk_prob)
    for (int64_t k = 0; k < K; ++k) weights[k] = float(weights[k] / (sum + 1e-20));
  // V3 always scales; V2's reference scales only when it does not normalise.
  if (v3 || !c.norm_topk_prob)
    for (int64_t k = 0; k < K; ++k) weights[k] *= float(c.routed_scaling_factor);
}

void moe_ffn(const Model& m, const MoeWeights& w, int64_t n, Activations& a, ThreadPool& pool) {
  const ModelConfig& c = m.config;
  const int64_t E = c.n_routed_experts, K = c.num_experts_per_tok, D = c.hidden_size;
  matmul(w.router, a.xn.data(), n, a.router.data(), pool);
  parallel_ranges(pool, n, 16 * E, [&](int64_t t0, int64_t t1) {
    std::vector<float> work(size_t(2 * E));
    for (int64_t t = t0; t < t1; ++t)
      route_token(c, a.router.data() + t * E, w.score_bias.empty() ? nullptr : w.score_bias.data(),
                  a.topk_idx.data() + t * K, a.topk_w.data() + t * K, work.data());
  });

  if (n <= kBatchedExpertTokens) {
    moe_experts_batched(w, n, K, D, a, pool);
    return;
  }

  // Shared experts see every token; their output starts the sum.
  if (!w.shared.empty())
    mlp_ffn(w.shared, a.xn.data(), n, a.out.data(), false, 1.0f, a, pool);
  else
    std::fill(a.out.begin(), a.out.begin() + n * D, 0.0f);

  // Group the batch's tokens by expert so each expert's weights are read once per batch.
  std::vector<std::vector<std::pair<int32_t, float>>> by_expert(static_cast<size_t>(E));
  for (int64_t t = 0; t < n; ++t)
    for (int64_t k = 0; k < K; ++k)
      by_expert[size_t(a.topk_idx[size_t(t * K + k)])].push_back(
          {int32_t(t), a.topk_w[size_t(t * K + k)]});
  for (int64_t e = 0; e < E; ++e) {
    const auto& toks = by_expert[size_t(e)];
    if (toks.empty()) continue;
    const int64_t mt = int64_t(toks.size());
    parallel_ranges(pool, mt, D, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i)
        std::copy_n(a.xn.data() + toks[size_t(i)].first * D, D, a.ffn_in.data() + i * D);
    });
    mlp_ffn(w.experts[size_t(e)], a.ffn_in.data(), mt, a.ffn_y.data(), false, 1.0f, a, pool);
    // An expert sees each token at most once: the tokens' rows are disjoint.
    parallel_ranges(pool, mt, 2 * D, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const float wt = toks[size_t(i)].second;
        float* o = a.out.data() + toks[size_t(i)].first * D;
        const float* y = a.ffn_y.data() + i * D;
        for (int64_t d = 0; d < D; ++d) o[d] += wt * y[d];
      }
    });
  }
}

}  // namespace ds
