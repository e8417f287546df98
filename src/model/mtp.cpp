// The multi-token-prediction module (architecture doc, "Multi-token prediction (MTP) module"):
//   u = eh_proj([enorm(Emb[t_{i+1}]) ; hnorm(h_i)])   (embedding half first)
//   y = decoder_layer(u) at position i, with the module's own cache layer
//   draft logits = head(shared_head.norm(y))
#include <algorithm>
#include <vector>

#include "core/error.h"
#include "model/forward.h"
#include "ops/ops.h"
#include "runtime/thread_pool.h"

namespace ds {

namespace {

// What the rows of one call produce.
enum class MtpOut {
  kCacheOnly,  // every row only writes its cache row (catching up)
  kLast,       // all rows write their cache rows, the last one alone runs the whole layer
  kAll,        // every row runs the whole layer
};

// Row t: the pair (hidden[t], tokens[t]) at position pos[t] of sessions[t]'s module cache.
void mtp_rows(const Model& m, int64_t k, Session* const* sessions, const float* hidden,
              const int32_t* tokens, const int64_t* pos, int64_t n, MtpOut mode, float* out_hidden,
              float* logits, Activations& a, ThreadPool& pool) {
  const ModelConfig& c = m.config;
  if (k < 0 || k >= int64_t(m.mtp.size())) throw Error(cat("the model has no MTP module ", k));
  if (n <= 0 || n > Session::kMaxBatch) throw Error(cat("MTP batch of ", n, " pairs"));
  const MtpWeights& w = m.mtp[size_t(k)];
  const int64_t D = c.hidden_size, V = c.vocab_size;
  for (int64_t t = 0; t < n; ++t) {
    if (tokens[t] < 0 || tokens[t] >= V)
      throw Error(cat("token id ", tokens[t], " is out of range"));
    if (pos[t] < 0 || pos[t] >= sessions[t]->ctx_size())
      throw Error(cat("MTP position ", pos[t], " is outside the context"));
  }
  a.reserve(c, n, pool.size());
  // [e ; g] rows, [n, 2D], built in ffn_g (at least [n, I] ≥ 2D is not guaranteed: own buffer).
  thread_local std::vector<float> eg;
  eg.resize(size_t(n * 2 * D));
  std::vector<float> row(static_cast<size_t>(D));
  for (int64_t t = 0; t < n; ++t) {
    dequantize_row(w.embed, tokens[t], row.data());
    rms_norm(row.data(), w.enorm.data(), D, c.rms_norm_eps, eg.data() + t * 2 * D);
    rms_norm(hidden + t * D, w.hnorm.data(), D, c.rms_norm_eps, eg.data() + t * 2 * D + D);
    a.tok_cache[size_t(t)] = &sessions[t]->cache();
    a.tok_pos[size_t(t)] = pos[t];
  }
  matmul(w.eh_proj, eg.data(), n, a.x.data(), pool);
  const int64_t layer = c.num_hidden_layers + k;
  // Rows whose output is not wanted matter only through the keys they leave in the module's
  // cache, which depend on nothing but their own input row. So they stop after kv_a (the same
  // arithmetic as the full layer's first step, so the same cache rows).
  const int64_t cache_only = mode == MtpOut::kCacheOnly ? n : mode == MtpOut::kLast ? n - 1 : 0;
  if (cache_only > 0) {
    for (int64_t t = 0; t < cache_only; ++t)
      rms_norm(a.x.data() + t * D, w.layer.attn_norm.data(), D, c.rms_norm_eps,
               a.xn.data() + t * D);
    mla_write_latent(m, w.layer.attn, layer, cache_only, a, pool);
    if (cache_only == n) return;
    // The last pair alone runs attention, the MoE and the head.
    std::copy_n(a.x.data() + cache_only * D, D, a.x.data());
    a.tok_cache[0] = a.tok_cache[size_t(cache_only)];
    a.tok_pos[0] = a.tok_pos[size_t(cache_only)];
  }
  const int64_t rows = n - cache_only;  // rows of a.x that go through the whole layer
  decoder_layer(m, w.layer, layer, rows, a, pool);
  thread_local std::vector<float> normed;
  normed.resize(size_t(rows * D));
  for (int64_t t = 0; t < rows; ++t)
    rms_norm(a.x.data() + t * D, w.head_norm.data(), D, c.rms_norm_eps, normed.data() + t * D);
  if (out_hidden) std::copy(normed.begin(), normed.end(), out_hidden);
  if (logits) matmul(w.head, normed.data(), rows, logits, pool);
}

}  // namespace

void mtp_forward(const Model& m, int64_t k, Session& s, const float* hidden, const int32_t* tokens,
                 const int64_t* pos, int64_t n, float* out_hidden, float* logits, bool all_logits,
                 Activations& a, ThreadPool& pool) {
  const std::vector<Session*> sessions(size_t(std::max<int64_t>(n, 0)), &s);
  mtp_rows(m, k, sessions.data(), hidden, tokens, pos, n,
           all_logits ? MtpOut::kAll
           : n > 1    ? MtpOut::kLast
                      : MtpOut::kAll,
           out_hidden, logits, a, pool);
}

void mtp_forward_rows(const Model& m, int64_t k, Session* const* sessions, const float* hidden,
                      const int32_t* tokens, const int64_t* pos, int64_t n, float* out_hidden,
                      float* logits, Activations& a, ThreadPool& pool) {
  mtp_rows(m, k, sessions, hidden, tokens, pos, n,
           out_hidden || logits ? MtpOut::kAll : MtpOut::kCacheOnly, out_hidden, logits, a, pool);
}

}  // namespace ds
