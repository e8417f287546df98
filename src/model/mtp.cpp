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

void mtp_forward(const Model& m, int64_t k, Session& s, const float* hidden, const int32_t* tokens,
                 const int64_t* pos, int64_t n, float* out_hidden, float* logits, bool all_logits,
                 Activations& a, ThreadPool& pool) {
  const ModelConfig& c = m.config;
  if (k < 0 || k >= int64_t(m.mtp.size())) throw Error(cat("the model has no MTP module ", k));
  if (n <= 0 || n > Session::kMaxBatch) throw Error(cat("MTP batch of ", n, " pairs"));
  const MtpWeights& w = m.mtp[size_t(k)];
  const int64_t D = c.hidden_size, V = c.vocab_size;
  for (int64_t t = 0; t < n; ++t) {
    if (tokens[t] < 0 || tokens[t] >= V)
      throw Error(cat("token id ", tokens[t], " is out of range"));
    if (pos[t] < 0 || pos[t] >= s.ctx_size())
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
    a.tok_cache[size_t(t)] = &s.cache();
    a.tok_pos[size_t(t)] = pos[t];
  }
  matmul(w.eh_proj, eg.data(), n, a.x.data(), pool);
  const int64_t layer = c.num_hidden_layers + k;
  int64_t rows = n;  // rows of a.x that go through the whole layer
  if (!all_logits && n > 1) {
    // Only the last pair's output is wanted; the others matter only through the keys they
    // leave in the module's cache, which depend on nothing but their own input row. So they
    // stop after kv_a (the same arithmetic as the full layer's first step, so the same
    // cache rows), and the last pair alone runs attention, the MoE and the head.
    const int64_t ln = n - 1;
    for (int64_t t = 0; t < ln; ++t)
      rms_norm(a.x.data() + t * D, w.layer.attn_norm.data(), D, c.rms_norm_eps,
               a.xn.data() + t * D);
    mla_write_latent(m, w.layer.attn, layer, ln, a, pool);
    std::copy_n(a.x.data() + ln * D, D, a.x.data());
    a.tok_cache[0] = a.tok_cache[size_t(ln)];
    a.tok_pos[0] = a.tok_pos[size_t(ln)];
    rows = 1;
  }
  decoder_layer(m, w.layer, layer, rows, a, pool);
  thread_local std::vector<float> normed;
  normed.resize(size_t(rows * D));
  for (int64_t t = 0; t < rows; ++t)
    rms_norm(a.x.data() + t * D, w.head_norm.data(), D, c.rms_norm_eps, normed.data() + t * D);
  if (out_hidden) {
    if (all_logits)
      std::copy(normed.begin(), normed.end(), out_hidden);
    else
      std::copy_n(normed.data() + (rows - 1) * D, D, out_hidden);
  }
  if (logits) {
    if (all_logits)
      matmul(w.head, normed.data(), n, logits, pool);
    else
      matmul(w.head, normed.data() + (rows - 1) * D, 1, logits, pool);
  }
}

}  // namespace ds
