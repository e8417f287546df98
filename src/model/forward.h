// The forward pass: a Session owns the KV cache and the activation buffers of one sequence.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/huge_buffer.h"
#include "model/weights.h"

namespace ds {

class ThreadPool;

/// Element types the KV cache can hold (`--cache-type`): F32; BF16 (rounded to nearest even
/// when written, widened exactly when read; half the bytes to store and to read); or Q8_0
/// (each row in blocks of 32 values sharing an f16 scale, as GGUF's Q8_0, the last block
/// zero-padded; a quarter of F32's bytes). Unset (`auto`) means the model's own precision:
/// default_cache_type().
using CacheType = std::optional<DType>;
/// "f32" → F32, "bf16" → BF16, "q8_0" → Q8_0, "auto" → unset; throws ds::Error otherwise.
CacheType parse_cache_type(std::string_view name);
/// Bytes of one cached row of `width` values of `type`.
size_t kv_row_bytes(int64_t width, DType type);
/// The CLI name of a cache type ("f32", "bf16", "q8_0", "auto").
const char* cache_type_name(CacheType t);
/// The cache type `auto` resolves to for `m`: F32 when the weights that write the cache
/// (layer 0's kv_a projection) are F32 or F16, so a float32 model computes in float32 end
/// to end; BF16 for BF16, FP8 and block-quantised weights, whose rounding already exceeds
/// the cache's (docs/numerics.md, section 7). DeepSeek's reference code keeps its cache in
/// the model's BF16 too.
DType default_cache_type(const Model& m);
/// `t` when set, else default_cache_type(m).
inline DType resolve_cache_type(CacheType t, const Model& m) {
  return t ? *t : default_cache_type(m);
}

/// MLA's compressed cache: per layer and position, the normalised latent c (kv_lora_rank)
/// followed by the rotated RoPE key k_pe (qk_rope_head_dim), as F32 or BF16 values.
class KvCache {
 public:
  KvCache(int64_t n_layers, int64_t ctx, int64_t width, DType type);
  DType type() const { return type_; }
  /// Bytes of one row (one position of one layer).
  size_t row_bytes() const { return row_bytes_; }
  /// The stored row: `float` values for F32, bf16 bits (`uint16_t`) for BF16, BlockQ8_0s for
  /// Q8_0. Rows of a layer
  /// follow each other (layer l's positions 0 … ctx−1 are contiguous).
  void* data(int64_t layer, int64_t pos) { return data_.data() + offset(layer, pos); }
  const void* data(int64_t layer, int64_t pos) const { return data_.data() + offset(layer, pos); }
  /// Writes row (layer, pos) from `width` floats (rounded to the cache type).
  void store(int64_t layer, int64_t pos, const float* row);
  /// Reads row (layer, pos) as `width` floats.
  void load(int64_t layer, int64_t pos, float* row) const;
  int64_t ctx() const { return ctx_; }
  int64_t width() const { return width_; }
  int64_t n_layers() const { return n_layers_; }

 private:
  size_t offset(int64_t layer, int64_t pos) const {
    return size_t(layer * ctx_ + pos) * row_bytes_;
  }
  int64_t n_layers_, ctx_, width_;
  DType type_;
  size_t row_bytes_;
  HugeBuffer data_;  // [n_layers, ctx] rows of row_bytes_ (huge pages: streamed per step)
};

/// Activation buffers for a batch of up to `cap` tokens; grown once, reused every step.
struct Activations {
  int64_t cap = 0;
  std::vector<float> x;           // [n, D]     residual stream
  std::vector<float> xn;          // [n, D]     normalised input of a block
  std::vector<float> out;         // [n, D]     block output
  std::vector<float> q_a;         // [n, q_lora_rank]
  std::vector<float> q;           // [n, H, dn + dr]
  std::vector<float> kv;          // [n, rkv + dr]
  std::vector<float> attn;        // [n, H, dv]  per-head attention outputs
  std::vector<float> cos_sin;     // [n, dr/2, 2]  RoPE rotation per position
  std::vector<float> head;        // [threads, per-head scratch] for attention
  std::vector<float> router;      // [n, E]
  std::vector<float> ffn_in;      // [n, D]     tokens gathered for one expert
  std::vector<float> ffn_g;       // [n, I]
  std::vector<float> ffn_u;       // [n, I]
  std::vector<float> ffn_y;       // [n, D]
  std::vector<int32_t> topk_idx;  // [n, K]
  std::vector<float> topk_w;      // [n, K]
  // Where each token of the batch lives: its sequence's cache and its position there.
  std::vector<KvCache*> tok_cache;  // [n]
  std::vector<int64_t> tok_pos;     // [n]
  std::vector<float> logits;        // [n, V] LM-head rows bound for scattered destinations
  /// Buffers for batches of up to n tokens on n_threads (attention scratch does not depend
  /// on the context length: it is tiled).
  void reserve(const ModelConfig& c, int64_t n, int n_threads);
};

class Session;

/// One sequence's share of a batched step: `n` new tokens appended to `session`.
struct SeqBatch {
  Session* session = nullptr;
  const int32_t* tokens = nullptr;
  int64_t n = 0;
  float* logits =
      nullptr;  // [n, vocab] when all_logits, else [vocab] for the last token; may be null
  bool all_logits = false;
};

/// Runs the new tokens of several sequences in ONE pass over the weights (continuous
/// batching): matmuls see all tokens, attention reads each token's own cache. Validates every
/// sequence before touching any (token ids, context room). At most Session::kMaxBatch tokens.
void forward_multi(const Model& m, ThreadPool& pool, Activations& a, SeqBatch* seqs, size_t n_seqs);

/// Per-sequence inference state. Not thread-safe; one Session per sequence.
class Session {
 public:
  /// `ctx_size` bounds positions; it may not exceed max_position_embeddings. `cache_type`:
  /// the KV cache's element type (F32 or BF16; unset: default_cache_type(model)).
  Session(const Model& model, ThreadPool& pool, int64_t ctx_size, CacheType cache_type = {});

  /// Runs `n` tokens at positions n_past() … n_past()+n−1, appending them to the cache.
  /// logits: [n, vocab] when all_logits, else [vocab] for the last token (may be null).
  /// Throws ds::Error for token ids out of range or a context overflow.
  void forward(const int32_t* tokens, int64_t n, float* logits, bool all_logits);
  int64_t n_past() const { return int64_t(tokens_.size()); }
  /// The tokens whose keys are in the cache, in order (n_past() of them).
  const std::vector<int32_t>& tokens() const { return tokens_; }
  int64_t ctx_size() const { return cache_.ctx(); }
  /// Forgets positions ≥ n (a shared prefix is kept).
  void truncate(int64_t n);
  DType cache_type() const { return cache_.type(); }
  /// Bytes one cached position occupies (all layers, in the cache's type): the unit of
  /// export_prefix().
  int64_t kv_bytes_per_token() const { return cache_.n_layers() * int64_t(cache_.row_bytes()); }
  /// Copies the cache rows of positions [0, n) into `kv` ([n_layers, n, width] elements of
  /// cache_type(), n · kv_bytes_per_token() bytes); n ≤ n_past().
  void export_prefix(int64_t n, void* kv) const;
  /// Makes the cache hold exactly `tokens[0 … n)` with the first n positions of `kv`
  /// ([n_layers, kv_positions, width], as export_prefix(kv_positions) wrote it, from this or
  /// another Session of the same model and cache type). n ≤ kv_positions. A session that
  /// keeps its hidden states needs theirs too: `hidden` [n, D] (hidden_history() of the
  /// exporting session); without it, such a session throws ds::Error. The MTP rows count as
  /// stale (mtp_past 0) until set_mtp_past says otherwise.
  void import_prefix(const int32_t* tokens, int64_t n, const void* kv, int64_t kv_positions,
                     const float* hidden = nullptr);
  /// Final-normed hidden states of the last forward's tokens: [n, D] (input of the MTP module).
  const std::vector<float>& last_hidden() const { return hidden_; }
  const Model& model() const { return model_; }
  ThreadPool& pool() const { return pool_; }
  bool keeps_hidden() const { return keep_hidden_; }

  /// Largest batch processed in one pass; longer prompts are split.
  static constexpr int64_t kMaxBatch = 512;

  /// Keeps the final-normed hidden state of every cached position (needed to bring the MTP
  /// module's cache up to date after prefix reuse); costs hidden_size floats per token.
  void set_keep_hidden(bool keep);
  /// Hidden states of positions [0, n_past()) when keep_hidden is on: [n_past, D].
  const std::vector<float>& hidden_history() const { return hist_hidden_; }
  /// MTP cache positions [0, mtp_past()) hold true (hidden, next token) pairs.
  int64_t mtp_past() const { return mtp_past_; }
  void set_mtp_past(int64_t n) { mtp_past_ = n; }
  /// The KV cache: main layers first, then one layer per MTP module.
  KvCache& cache() { return cache_; }
  /// Checks that `n` more tokens with these ids fit; throws ds::Error otherwise.
  void check_append(const int32_t* tokens, int64_t n) const;

 private:
  friend void forward_multi(const Model&, ThreadPool&, Activations&, SeqBatch*, size_t);

  const Model& model_;
  ThreadPool& pool_;
  KvCache cache_;
  Activations act_;
  std::vector<float> hidden_;       // [n, D]
  std::vector<int32_t> tokens_;     // [n_past]
  std::vector<float> hist_hidden_;  // [n_past, D] when keep_hidden_
  bool keep_hidden_ = false;
  int64_t mtp_past_ = 0;
};

/// Runs MTP module `k` (architecture doc, "Multi-token prediction") on n pairs: the hidden
/// states `hidden` [n, D] (the main model's after model.norm, or the module's own normed
/// output when chaining drafts) and the tokens that follow them, at positions pos[0 … n).
/// Writes the module's cache layer in `s`, its normed output to `out_hidden` and draft logits
/// to `logits` (each may be null): all rows ([n, D], [n, V]) when all_logits, else the last.
void mtp_forward(const Model& m, int64_t k, Session& s, const float* hidden, const int32_t* tokens,
                 const int64_t* pos, int64_t n, float* out_hidden, float* logits, bool all_logits,
                 Activations& a, ThreadPool& pool);
/// The same for pairs of several sequences at once (drafting for many sequences in one pass
/// over the module's weights): row t writes position pos[t] of sessions[t]'s module cache.
/// With an output wanted, every row runs the whole layer and gets its row of `out_hidden`
/// [n, D] and `logits` [n, V] (each may be null); with neither, the rows only write their
/// cache rows (catching up; the same rows the whole layer writes).
void mtp_forward_rows(const Model& m, int64_t k, Session* const* sessions, const float* hidden,
                      const int32_t* tokens, const int64_t* pos, int64_t n, float* out_hidden,
                      float* logits, Activations& a, ThreadPool& pool);

/// One decoder layer on a batch (used by the main model and the MTP module): a.x [n, D] is
/// updated in place; token t is at a.tok_pos[t] of cache layer `layer` of a.tok_cache[t].
void decoder_layer(const Model& m, const LayerWeights& L, int64_t layer, int64_t n, Activations& a,
                   ThreadPool& pool);

/// MLA attention (absorbed form) of a normalised batch a.xn → a.out.
///
/// The pool's threads split the heads, each reading all cached positions of the layer; for a
/// pass of at most 16 tokens whose longest context reaches attn_split_min_positions(), they
/// split the positions instead (whole tiles of 256, every head), and the partial softmax
/// results are merged (flash-decoding): the cache is read once rather than once per thread.
/// The two agree to float rounding (the merge sums in another order). A pass of at least
/// 32 tokens per thread (prompts) splits the tokens instead: threads claim chunks of 16
/// tokens and attend them with every head, with results equal to the heads split.
void mla_attention(const Model& m, const MlaWeights& w, int64_t layer, int64_t n, Activations& a,
                   ThreadPool& pool);

/// From how many positions on (the longest context of the pass) mla_attention splits the
/// positions across threads rather than the heads (default kDefaultAttnSplitMinPositions);
/// tests and benchmarks move it to compare the two.
inline constexpr int64_t kDefaultAttnSplitMinPositions = 1024;
void set_attn_split_min_positions(int64_t n);
int64_t attn_split_min_positions();

/// Whether long passes split the tokens across threads (default on); tests and benchmarks
/// turn it off to compare with the heads split.
void set_attn_split_tokens(bool on);
bool attn_split_tokens_enabled();

/// The cache half of MLA: kv_a of the normalised batch a.xn, normalised latent and roped key
/// written to each token's cache row (a.tok_cache / a.tok_pos); leaves the RoPE table of the
/// batch in a.cos_sin. mla_attention runs it; a position whose output is never needed (the
/// MTP module catching up) runs only this.
void mla_write_latent(const Model& m, const MlaWeights& w, int64_t layer, int64_t n, Activations& a,
                      ThreadPool& pool);

/// MoE (routed + shared experts) of a.xn → a.out.
void moe_ffn(const Model& m, const MoeWeights& w, int64_t n, Activations& a, ThreadPool& pool);
/// Dense SwiGLU MLP of `n` rows of x → y (accumulated when `accumulate`).
void mlp_ffn(const MlpWeights& w, const float* x, int64_t n, float* y, bool accumulate, float scale,
             Activations& a, ThreadPool& pool);

/// Routing of one token: router logits → chosen experts and their weights (architecture doc,
/// "MoE layer"). idx/weights have num_experts_per_tok entries.
void route_token(const ModelConfig& c, const float* logits, const float* bias, int32_t* idx,
                 float* weights, float* work);

/// Fills cos_sin [n, dr/2, 2] for the positions pos[0 … n−1].
void rope_table(const Model& m, const int64_t* pos, int64_t n, float* cos_sin);
/// Rotates one vector of length dr in interleaved pairs with one row of rope_table.
void rope_apply(float* x, const float* cos_sin, int64_t dr);

}  // namespace ds
