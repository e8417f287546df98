// The whole model (architecture doc, "Whole model"): embeddings, decoder layers, final norm,
// LM head. Prompts run as one batch (matrix-matrix); decoding reuses the KV cache.
#include <algorithm>

#include "core/error.h"
#include "model/forward.h"
#include "ops/ops.h"
#include "runtime/thread_pool.h"

namespace ds {

KvCache::KvCache(int64_t n_layers, int64_t ctx, int64_t width)
    : n_layers_(n_layers), ctx_(ctx), width_(width), data_(size_t(n_layers * ctx * width)) {}

Session::Session(const Model& model, ThreadPool& pool, int64_t ctx_size)
    : model_(model),
      pool_(pool),
      cache_(model.config.num_hidden_layers + int64_t(model.mtp.size()),
             std::clamp<int64_t>(ctx_size, 1, model.config.max_position_embeddings),
             model.config.kv_cache_width()) {
  if (ctx_size > model.config.max_position_embeddings)
    throw Error(cat("context size ", ctx_size, " exceeds the model's max_position_embeddings (",
                    model.config.max_position_embeddings, ")"));
  if (ctx_size < 1) throw Error(cat("context size must be positive, got ", ctx_size));
}

void Session::truncate(int64_t n) {
  n_past_ = std::clamp<int64_t>(n, 0, n_past_);
}

void Session::forward(const int32_t* tokens, int64_t n, float* logits, bool all_logits) {
  const ModelConfig& c = model_.config;
  if (n <= 0) throw Error("forward: no tokens");
  for (int64_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= c.vocab_size)
      throw Error(cat("token id ", tokens[i], " at position ", i, " is out of range [0, ",
                      c.vocab_size, ")"));
  if (n_past_ + n > cache_.ctx())
    throw Error(cat("context overflow: ", n_past_, " cached + ", n,
                    " new tokens exceed the context size ", cache_.ctx()));
  for (int64_t done = 0; done < n;) {
    const int64_t chunk = std::min(kMaxBatch, n - done);
    const bool last = done + chunk == n;
    float* out = nullptr;
    if (logits && all_logits) out = logits + done * c.vocab_size;
    if (logits && !all_logits && last) out = logits;
    forward_batch(tokens + done, chunk, out, all_logits);
    done += chunk;
  }
}

void decoder_layer(const Model& m, const LayerWeights& L, float* cache_layer, int64_t cache_width,
                   int64_t n, int64_t pos0, Activations& a, ThreadPool& pool) {
  const ModelConfig& c = m.config;
  const int64_t D = c.hidden_size;
  (void)cache_width;
  for (int64_t t = 0; t < n; ++t)
    rms_norm(a.x.data() + t * D, L.attn_norm.data(), D, c.rms_norm_eps, a.xn.data() + t * D);
  mla_attention(m, L.attn, cache_layer, n, pos0, a, pool);
  for (int64_t i = 0; i < n * D; ++i) a.x[size_t(i)] += a.out[size_t(i)];
  for (int64_t t = 0; t < n; ++t)
    rms_norm(a.x.data() + t * D, L.ffn_norm.data(), D, c.rms_norm_eps, a.xn.data() + t * D);
  if (L.is_moe)
    moe_ffn(m, L.moe, n, a, pool);
  else
    mlp_ffn(L.dense, a.xn.data(), n, a.out.data(), false, 1.0f, a, pool);
  for (int64_t i = 0; i < n * D; ++i) a.x[size_t(i)] += a.out[size_t(i)];
}

void Session::forward_batch(const int32_t* tokens, int64_t n, float* logits, bool all_logits) {
  const Model& m = model_;
  const ModelConfig& c = m.config;
  const int64_t D = c.hidden_size;
  act_.reserve(c, n, cache_.ctx(), pool_.size());
  Activations& a = act_;
  for (int64_t t = 0; t < n; ++t) dequantize_row(m.embed, tokens[t], a.x.data() + t * D);
  for (int64_t il = 0; il < c.num_hidden_layers; ++il)
    decoder_layer(m, m.layers[size_t(il)], cache_.row(il, 0), cache_.width(), n, n_past_, a, pool_);
  hidden_.resize(size_t(n * D));
  for (int64_t t = 0; t < n; ++t)
    rms_norm(a.x.data() + t * D, m.final_norm.data(), D, c.rms_norm_eps, hidden_.data() + t * D);
  if (logits) {
    if (all_logits)
      matmul(m.lm_head, hidden_.data(), n, logits, pool_);
    else
      matmul(m.lm_head, hidden_.data() + (n - 1) * D, 1, logits, pool_);
  }
  tokens_.insert(tokens_.end(), tokens, tokens + n);
  n_past_ += n;
}

}  // namespace ds
