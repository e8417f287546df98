// The whole model (architecture doc, "Whole model"): embeddings, decoder layers, final norm,
// LM head. Prompts run as one batch (matrix-matrix); decoding reuses the KV cache.
#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "model/forward.h"
#include "ops/ops.h"
#include "quant/quant.h"
#include "runtime/thread_pool.h"

namespace ds {

CacheType parse_cache_type(std::string_view name) {
  if (name == "f32") return DType::F32;
  if (name == "bf16") return DType::BF16;
  if (name == "q8_0") return DType::Q8_0;
  if (name == "auto") return std::nullopt;
  throw Error(cat("unknown cache type '", name, "' (expected auto, f32, bf16 or q8_0)"));
}

const char* cache_type_name(CacheType t) {
  if (!t) return "auto";
  switch (*t) {
    case DType::F32:
      return "f32";
    case DType::BF16:
      return "bf16";
    case DType::Q8_0:
      return "q8_0";
    default:
      return "?";
  }
}

DType default_cache_type(const Model& m) {
  if (m.layers.empty()) return DType::F32;
  const DType w = m.layers[0].attn.kv_a.dtype;
  return w == DType::F32 || w == DType::F16 || w == DType::F64 ? DType::F32 : DType::BF16;
}

size_t kv_row_bytes(int64_t width, DType type) {
  switch (type) {
    case DType::F32:
      return size_t(width) * 4;
    case DType::BF16:
      return size_t(width) * 2;
    case DType::Q8_0:
      return size_t((width + 31) / 32) * sizeof(BlockQ8_0);
    default:
      throw Error(cat("the KV cache holds f32, bf16 or q8_0 values, not ", dtype_name(type)));
  }
}

KvCache::KvCache(int64_t n_layers, int64_t ctx, int64_t width, DType type)
    : n_layers_(n_layers), ctx_(ctx), width_(width), type_(type) {
  row_bytes_ = kv_row_bytes(width, type);
  data_ = HugeBuffer(size_t(n_layers * ctx) * row_bytes_);
}

void KvCache::store(int64_t layer, int64_t pos, const float* row) {
  void* dst = data(layer, pos);
  if (type_ == DType::F32) {
    std::copy_n(row, width_, static_cast<float*>(dst));
    return;
  }
  if (type_ == DType::Q8_0) {
    // Whole blocks straight from the row; a partial last block from a zero-padded copy.
    const int64_t whole = width_ / 32 * 32;
    BlockQ8_0* b = static_cast<BlockQ8_0*>(dst);
    quantize_row_q8_0_ref(row, b, whole);
    if (whole < width_) {
      float pad[32] = {};
      std::copy(row + whole, row + width_, pad);
      quantize_row_q8_0_ref(pad, b + whole / 32, 32);
    }
    return;
  }
  uint16_t* d = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < width_; ++i) d[i] = f32_to_bf16(row[i]);  // round to nearest even
}

void KvCache::load(int64_t layer, int64_t pos, float* row) const {
  const void* src = data(layer, pos);
  if (type_ == DType::F32) {
    std::copy_n(static_cast<const float*>(src), width_, row);
    return;
  }
  if (type_ == DType::Q8_0) {
    const int64_t whole = width_ / 32 * 32;
    const BlockQ8_0* b = static_cast<const BlockQ8_0*>(src);
    dequantize_row_q8_0(b, row, whole);
    if (whole < width_) {
      float pad[32];
      dequantize_row_q8_0(b + whole / 32, pad, 32);
      std::copy(pad, pad + (width_ - whole), row + whole);
    }
    return;
  }
  const uint16_t* s = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < width_; ++i) row[i] = bf16_to_f32(s[i]);
}

Session::Session(const Model& model, ThreadPool& pool, int64_t ctx_size, CacheType cache_type)
    : model_(model),
      pool_(pool),
      cache_(model.config.num_hidden_layers + int64_t(model.mtp.size()),
             std::clamp<int64_t>(ctx_size, 1, model.config.max_position_embeddings),
             model.config.kv_cache_width(), resolve_cache_type(cache_type, model)) {
  if (ctx_size > model.config.max_position_embeddings)
    throw Error(cat("context size ", ctx_size, " exceeds the model's max_position_embeddings (",
                    model.config.max_position_embeddings, ")"));
  if (ctx_size < 1) throw Error(cat("context size must be positive, got ", ctx_size));
}

void Session::truncate(int64_t n) {
  tokens_.resize(size_t(std::clamp<int64_t>(n, 0, n_past())));
  if (keep_hidden_) hist_hidden_.resize(size_t(n_past() * model_.config.hidden_size));
  // The pair at position i needs token i+1, so MTP entries stay valid up to n_past − 1.
  mtp_past_ = std::min(mtp_past_, std::max<int64_t>(n_past() - 1, 0));
}

void Session::set_keep_hidden(bool keep) {
  if (keep && !keep_hidden_ && n_past() > 0)
    throw Error("set_keep_hidden must be called on an empty session");
  keep_hidden_ = keep;
  if (!keep) hist_hidden_.clear();
  // Address space for the whole context up front (pages are only touched as it fills): the
  // history never moves, and never holds twice its size while it grows.
  if (keep) hist_hidden_.reserve(size_t(cache_.ctx() * model_.config.hidden_size));
}

void Session::export_prefix(int64_t n, void* kv) const {
  DS_CHECK(n >= 0 && n <= n_past(), "export_prefix: ", n, " of ", n_past(), " positions");
  const size_t R = cache_.row_bytes();
  uint8_t* dst = static_cast<uint8_t*>(kv);
  for (int64_t l = 0; l < cache_.n_layers(); ++l)
    std::memcpy(dst + size_t(l * n) * R, cache_.data(l, 0), size_t(n) * R);
}

void Session::import_prefix(const int32_t* tokens, int64_t n, const void* kv, int64_t kv_positions,
                            const float* hidden) {
  DS_CHECK(n >= 0 && n <= kv_positions, "import_prefix: ", n, " of ", kv_positions, " positions");
  if (keep_hidden_ && !hidden)
    throw Error("import_prefix: the hidden states of the imported positions are unknown");
  if (n > cache_.ctx())
    throw Error(cat("import_prefix: ", n, " positions do not fit the context size ", cache_.ctx()));
  const size_t R = cache_.row_bytes();
  const uint8_t* src = static_cast<const uint8_t*>(kv);
  for (int64_t l = 0; l < cache_.n_layers(); ++l)
    std::memcpy(cache_.data(l, 0), src + size_t(l * kv_positions) * R, size_t(n) * R);
  tokens_.assign(tokens, tokens + n);
  if (keep_hidden_) hist_hidden_.assign(hidden, hidden + n * model_.config.hidden_size);
  mtp_past_ = 0;
}

void Session::check_append(const int32_t* tokens, int64_t n) const {
  const ModelConfig& c = model_.config;
  if (n <= 0) throw Error("forward: no tokens");
  for (int64_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= c.vocab_size)
      throw Error(cat("token id ", tokens[i], " at position ", i, " is out of range [0, ",
                      c.vocab_size, ")"));
  if (n_past() + n > cache_.ctx())
    throw Error(cat("context overflow: ", n_past(), " cached + ", n,
                    " new tokens exceed the context size ", cache_.ctx()));
}

void Session::forward(const int32_t* tokens, int64_t n, float* logits, bool all_logits) {
  check_append(tokens, n);
  const int64_t V = model_.config.vocab_size;
  for (int64_t done = 0; done < n;) {
    const int64_t chunk = std::min(kMaxBatch, n - done);
    const bool last = done + chunk == n;
    SeqBatch b;
    b.session = this;
    b.tokens = tokens + done;
    b.n = chunk;
    b.all_logits = all_logits;
    if (logits && all_logits) b.logits = logits + done * V;
    if (logits && !all_logits && last) b.logits = logits;
    forward_multi(model_, pool_, act_, &b, 1);
    done += chunk;
  }
}

void decoder_layer(const Model& m, const LayerWeights& L, int64_t layer, int64_t n, Activations& a,
                   ThreadPool& pool) {
  const ModelConfig& c = m.config;
  const int64_t D = c.hidden_size;
  // x += out, then xn = RMSNorm(x), token by token (split over the pool for prompts).
  auto add_norm = [&](const std::vector<float>* out, const std::vector<float>& norm) {
    parallel_ranges(pool, n, 4 * D, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        float* x = a.x.data() + t * D;
        if (out)
          for (int64_t i = 0; i < D; ++i) x[i] += (*out)[size_t(t * D + i)];
        rms_norm(x, norm.data(), D, c.rms_norm_eps, a.xn.data() + t * D);
      }
    });
  };
  add_norm(nullptr, L.attn_norm);
  mla_attention(m, L.attn, layer, n, a, pool);
  add_norm(&a.out, L.ffn_norm);
  if (L.is_moe)
    moe_ffn(m, L.moe, n, a, pool);
  else
    mlp_ffn(L.dense, a.xn.data(), n, a.out.data(), false, 1.0f, a, pool);
  parallel_ranges(pool, n * D, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) a.x[size_t(i)] += a.out[size_t(i)];
  });
}

void forward_multi(const Model& m, ThreadPool& pool, Activations& a, SeqBatch* seqs,
                   size_t n_seqs) {
  const ModelConfig& c = m.config;
  const int64_t D = c.hidden_size, V = c.vocab_size;
  int64_t n = 0;
  for (size_t i = 0; i < n_seqs; ++i) {
    DS_CHECK(&seqs[i].session->model_ == &m, "sequence of another model");
    seqs[i].session->check_append(seqs[i].tokens, seqs[i].n);
    n += seqs[i].n;
  }
  if (n > Session::kMaxBatch)
    throw Error(cat("batch of ", n, " tokens exceeds ", Session::kMaxBatch));
  a.reserve(c, n, pool.size());
  int64_t t = 0;
  for (size_t i = 0; i < n_seqs; ++i) {
    Session& s = *seqs[i].session;
    for (int64_t j = 0; j < seqs[i].n; ++j, ++t) {
      dequantize_row(m.embed, seqs[i].tokens[j], a.x.data() + t * D);
      a.tok_cache[size_t(t)] = &s.cache_;
      a.tok_pos[size_t(t)] = s.n_past() + j;
    }
  }
  for (int64_t il = 0; il < c.num_hidden_layers; ++il)
    decoder_layer(m, m.layers[size_t(il)], il, n, a, pool);
  // Final norm into each session's hidden states (the MTP module's input), then the LM head.
  t = 0;
  for (size_t i = 0; i < n_seqs; ++i) {
    SeqBatch& b = seqs[i];
    Session& s = *b.session;
    s.hidden_.resize(size_t(b.n * D));
    for (int64_t j = 0; j < b.n; ++j, ++t)
      rms_norm(a.x.data() + t * D, m.final_norm.data(), D, c.rms_norm_eps,
               s.hidden_.data() + j * D);
  }
  // One LM-head pass for every row that wants logits.
  std::vector<float>& rows = a.ffn_in;  // [n, D] reused: rows needing logits
  std::vector<float*> dst;
  int64_t r = 0;
  for (size_t i = 0; i < n_seqs; ++i) {
    SeqBatch& b = seqs[i];
    if (!b.logits) continue;
    const int64_t first = b.all_logits ? 0 : b.n - 1;
    for (int64_t j = first; j < b.n; ++j, ++r) {
      std::copy_n(b.session->hidden_.data() + j * D, D, rows.data() + r * D);
      dst.push_back(b.logits + (b.all_logits ? j * V : 0));
    }
  }
  if (r > 0) {
    // Rows whose destinations follow each other (one sequence's all_logits, or a caller
    // that lays the sequences' logits out back to back) share one pass over the LM head.
    bool contiguous = true;
    for (int64_t k = 1; k < r && contiguous; ++k) contiguous = dst[size_t(k)] == dst[0] + k * V;
    if (contiguous) {
      matmul(m.lm_head, rows.data(), r, dst[0], pool);  // contiguous destination
    } else {  // scattered destinations: one pass into scratch, then copy the rows out
      a.logits.resize(size_t(r * V));
      matmul(m.lm_head, rows.data(), r, a.logits.data(), pool);
      for (int64_t k = 0; k < r; ++k) std::copy_n(a.logits.data() + k * V, V, dst[size_t(k)]);
    }
  }
  for (size_t i = 0; i < n_seqs; ++i) {
    Session& s = *seqs[i].session;
    s.tokens_.insert(s.tokens_.end(), seqs[i].tokens, seqs[i].tokens + seqs[i].n);
    if (s.keep_hidden_)
      s.hist_hidden_.insert(s.hist_hidden_.end(), s.hidden_.begin(), s.hidden_.end());
  }
}

}  // namespace ds
