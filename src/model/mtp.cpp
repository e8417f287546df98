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
  a.reserve(c, n, s.ctx_size(), pool.size());
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
  decoder_layer(m, w.layer, c.num_hidden_layers + k, n, a, pool);
  thread_local std::vector<float> normed;
  normed.resize(size_t(n * D));
  for (int64_t t = 0; t < n; ++t)
    rms_norm(a.x.data() + t * D, w.head_norm.data(), D, c.rms_norm_eps, normed.data() + t * D);
  if (out_hidden) {
    if (all_logits)
      std::copy(normed.begin(), normed.end(), out_hidden);
    else
      std::copy_n(normed.data() + (n - 1) * D, D, out_hidden);
  }
  if (logits) {
    if (all_logits)
      matmul(w.head, normed.data(), n, logits, pool);
    else
      matmul(w.head, normed.data() + (n - 1) * D, 1, logits, pool);
  }
}

}  // namespace ds
