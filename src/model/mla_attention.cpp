// Multi-head latent attention in the absorbed form (architecture doc, "MLA attention").
// The cache holds only [c_t (kv_lora_rank) | k_pe_t (qk_rope_head_dim)] per position; per head
//   q̃_h = q_nope_h · W_kb_h          (W_kb_h: rows h·(dn+dv) … +dn of kv_b_proj, [dn, rkv])
//   score(h, s) = scale · ([q̃_h | q_pe_h] · cache_s)
//   u_h = Σ_s p(h, s) · c_s;  o_h = W_vb_h · u_h  (W_vb_h: the next dv rows, [dv, rkv])
#include <algorithm>
#include <atomic>
#include <cmath>
#include <vector>

#include "backend/cpu/kernels.h"
#include "model/forward.h"
#include "ops/ops.h"
#include "runtime/thread_pool.h"

namespace ds {

namespace {

// Positions per attention tile: scores of one tile for every head of a thread stay in L1/L2,
// and the softmax runs online across tiles, so no buffer grows with the context.
constexpr int64_t kAttnTile = 256;
// Tokens whose absorbed queries are built together (one pass over a head's k_b for all of
// them); bounds the per-thread scratch for long prompts on many-head models.
constexpr int64_t kAttnTokens = 16;

int64_t head_scratch_floats(const ModelConfig& c, int64_t n) {
  n = std::min(n, kAttnTokens);
  const int64_t W = c.kv_cache_width(), H = c.num_attention_heads;
  return n * c.qk_nope_head_dim + 2 * n * c.kv_lora_rank + n * H * W + n * H * c.kv_lora_rank +
         H * kAttnTile + 2 * n * H;
}

// Fewest heads for which attend_bf16 (where the table has it) beats the composed kernels:
// the tile kernel costs about the same for 1 to 16 heads, the vector kernels in proportion
// (BM_AttnPass: 16 heads 104 µs against 341 µs, 8 heads 88 against 158, per 1024 positions).
constexpr int64_t kTileAttnMinHeads = 6;

std::atomic<int64_t> g_split_min_positions{kDefaultAttnSplitMinPositions};
std::atomic<bool> g_split_tokens{true};

// The absorbed query of head h for tokens t0 … t0+nc−1: qt [nc, rkv] = q_nope_h · W_kb_h
// (qn [nc, dn]: scratch for the head's q_nope rows).
void absorb_query(const ModelConfig& c, const MlaWeights& w, const Activations& a, int64_t h,
                  int64_t t0, int64_t nc, float* qn, float* qt) {
  const int64_t H = c.num_attention_heads, dn = c.qk_nope_head_dim, dv = c.v_head_dim;
  const int64_t rkv = c.kv_lora_rank, dq = dn + c.qk_rope_head_dim;
  for (int64_t t = 0; t < nc; ++t)
    std::copy_n(a.q.data() + ((t0 + t) * H + h) * dq, dn, qn + t * dn);
  if (w.k_b.empty())
    matmul_transposed(w.kv_b.row_slice(h * (dn + dv), dn), qn, nc, qt);
  else
    matmul_rows(w.k_b.row_slice(h * rkv, rkv), qn, nc, qt, rkv, 0, rkv);
}

// o_h = W_vb_h · u_h for tokens t0 … t0+nc−1 (u rows in ut [nc, rkv]) into a.attn.
void project_values(const ModelConfig& c, const MlaWeights& w, Activations& a, int64_t h,
                    int64_t t0, int64_t nc, const float* ut) {
  const int64_t H = c.num_attention_heads, dn = c.qk_nope_head_dim, dv = c.v_head_dim;
  const WeightView wv =
      w.v_b.empty() ? w.kv_b.row_slice(h * (dn + dv) + dn, dv) : w.v_b.row_slice(h * dv, dv);
  matmul_rows(wv, ut, nc, a.attn.data() + t0 * H * dv + h * dv, H * dv, 0, dv);
}

// The queries qf [nh, W] ([q̃ | q_pe] of nh heads) over the cached positions [s_begin, s_end)
// of one layer, tile by tile with the online softmax: each tile's scores are exponentiated
// against the running max, and the earlier partial sums are rescaled when the max grows.
// s_begin is a multiple of kAttnTile. Adds the un-normalised Σ_s exp(score − max) · c_s to
// u [nh, rkv] (zero on entry); leaves each head's running max in mx [nh] and its softmax
// denominator (relative to that max) in sum [nh]. sc: [nh, kAttnTile] scratch.
void attend_positions(const KvCache& cache, int64_t layer, const float* qf, int64_t nh, int64_t W,
                      int64_t rkv, int64_t s_begin, int64_t s_end, float scale, float* sc,
                      float* mx, float* sum, float* u) {
  const CpuKernels& k = cpu_kernels();
  const bool bf16 = cache.type() == DType::BF16, q8 = cache.type() == DType::Q8_0;
  const float* cache_f32 = static_cast<const float*>(cache.data(layer, 0));
  // An 8-bit cache is widened (exactly) one tile at a time into this thread's scratch, and
  // the f32 kernels run on it: the cache streams from memory at a quarter of f32's bytes,
  // and the tile being attended stays in L2. Rows are whole Q8_0 blocks: stride Wq ≥ W.
  const int64_t Wq = (W + 31) / 32 * 32, ks = q8 ? Wq : W;
  thread_local std::vector<float> widened;
  if (q8 && widened.size() < size_t(kAttnTile * Wq)) widened.resize(size_t(kAttnTile * Wq));
  const uint16_t* cache_bf16 = static_cast<const uint16_t*>(cache.data(layer, 0));
  if (bf16 && k.attend_bf16 && nh >= kTileAttnMinHeads && W % 32 == 0 && rkv % 32 == 0 &&
      s_end > s_begin) {
    k.attend_bf16(qf, nh, cache_bf16 + s_begin * W, W, rkv, s_end - s_begin, scale, u, mx, sum);
    return;
  }
  for (int64_t s0 = s_begin; s0 < s_end; s0 += kAttnTile) {
    const int64_t tl = std::min(kAttnTile, s_end - s0);
    const float* rows = cache_f32 + s0 * W;
    if (q8) {
      k.q8_0_to_f32(cache.data(layer, s0), widened.data(), tl * (Wq / 32));
      rows = widened.data();
    }
    if (bf16)
      k.attn_scores_bf16(qf, W, nh, cache_bf16 + s0 * W, W, tl, W, scale, sc, kAttnTile);
    else
      k.attn_scores(qf, W, nh, rows, ks, tl, W, scale, sc, kAttnTile);
    for (int64_t g = 0; g < nh; ++g) {
      float* sg = sc + g * kAttnTile;
      const float tile_max = *std::max_element(sg, sg + tl);
      if (s0 == s_begin) {
        mx[g] = tile_max;
        sum[g] = k.exp_shifted_sum(sg, tl, tile_max);
        continue;
      }
      const float m_new = std::max(mx[g], tile_max);
      if (m_new > mx[g]) {
        const float corr = std::exp(mx[g] - m_new);
        sum[g] *= corr;
        for (int64_t j = 0; j < rkv; ++j) u[g * rkv + j] *= corr;
        mx[g] = m_new;
      }
      sum[g] += k.exp_shifted_sum(sg, tl, mx[g]);
    }
    if (bf16)
      k.attn_values_bf16(sc, kAttnTile, nh, cache_bf16 + s0 * W, W, tl, rkv, u, rkv);
    else
      k.attn_values(sc, kAttnTile, nh, rows, ks, tl, rkv, u, rkv);
  }
}

// Tokens t0 … t0+nc−1 (nc ≤ kAttnTokens) with heads h0 … h1−1 on thread ti: absorbed
// queries, attention over each token's positions, and the value projection into a.attn.
// Thread ti's scratch: qn [nc, dn], qt [nc, rkv], qf [nc, nh, W], u [nc, nh, rkv],
// sc [nh, kAttnTile], mx [nh], sum [nh].
void attend_chunk(const ModelConfig& c, const MlaWeights& w, int64_t layer, Activations& a, int ti,
                  int64_t per_thread, int64_t h0, int64_t h1, int64_t t0, int64_t nc, float scale) {
  const int64_t H = c.num_attention_heads, dn = c.qk_nope_head_dim, dr = c.qk_rope_head_dim;
  const int64_t rkv = c.kv_lora_rank, W = c.kv_cache_width(), dq = dn + dr;
  const int64_t nh = h1 - h0;
  float* qn = a.head.data() + ti * per_thread;  // [nc, dn]: one head's q_nope
  float* qt = qn + nc * dn;                     // [nc, rkv]: one head's absorbed query / u
  float* qf = qt + nc * rkv;                    // [nc, nh, W]: [q̃ | q_pe] of the heads
  float* u = qf + nc * nh * W;                  // [nc, nh, rkv]
  float* sc = u + nc * nh * rkv;                // [nh, kAttnTile]
  float* mx = sc + nh * kAttnTile;              // [nh] running max
  float* sum = mx + nh;                         // [nh] running softmax denominator
  for (int64_t h = h0; h < h1; ++h) {
    absorb_query(c, w, a, h, t0, nc, qn, qt);
    for (int64_t t = 0; t < nc; ++t) {
      float* row = qf + (t * nh + (h - h0)) * W;
      std::copy_n(qt + t * rkv, rkv, row);
      std::copy_n(a.q.data() + ((t0 + t) * H + h) * dq + dn, dr, row + rkv);
    }
  }
  // All the heads together, tile by tile over the positions.
  for (int64_t t = 0; t < nc; ++t) {
    const int64_t len = a.tok_pos[size_t(t0 + t)] + 1;  // causal: positions 0 … pos
    float* ut = u + t * nh * rkv;
    std::fill(ut, ut + nh * rkv, 0.0f);
    attend_positions(*a.tok_cache[size_t(t0 + t)], layer, qf + t * nh * W, nh, W, rkv, 0, len,
                     scale, sc, mx, sum, ut);
    for (int64_t g = 0; g < nh; ++g) {
      const float inv = 1.0f / sum[g];
      for (int64_t j = 0; j < rkv; ++j) ut[g * rkv + j] *= inv;
    }
  }
  for (int64_t h = h0; h < h1; ++h) {
    for (int64_t t = 0; t < nc; ++t) std::copy_n(u + (t * nh + (h - h0)) * rkv, rkv, qt + t * rkv);
    project_values(c, w, a, h, t0, nc, qt);
  }
}

// Short prompts and passes: each thread takes a share of the heads and all positions.
void attend_split_heads(const ModelConfig& c, const MlaWeights& w, int64_t layer, int64_t n,
                        Activations& a, ThreadPool& pool, int64_t per_thread, float scale) {
  pool.run([&](int ti, int nt) {
    int64_t h0, h1;
    split_range(c.num_attention_heads, ti, nt, &h0, &h1);
    if (h1 == h0) return;
    for (int64_t t0 = 0; t0 < n; t0 += kAttnTokens)
      attend_chunk(c, w, layer, a, ti, per_thread, h0, h1, t0, std::min(kAttnTokens, n - t0),
                   scale);
  });
}

// Prompts of at least two chunks of kAttnTokens tokens per thread: threads claim whole
// chunks and attend them with every head. The tile kernel then multiplies full groups of 16
// heads where a share of the heads left part of each group empty, and each token's positions
// are read by one thread instead of by every thread for its share of the heads. The chunks
// are claimed from the last (longest prefixes) to the first, so the threads finish together.
// The kernels treat each head alone: the results equal the heads split's wherever both reach
// the same kernels (the tile kernel, from kTileAttnMinHeads heads per call, agrees with the
// vector kernels to float rounding).
void attend_split_tokens(const ModelConfig& c, const MlaWeights& w, int64_t layer, int64_t n,
                         Activations& a, ThreadPool& pool, int64_t per_thread, float scale) {
  const int64_t chunks = (n + kAttnTokens - 1) / kAttnTokens;
  std::atomic<int64_t> next{0};
  pool.run([&](int ti, int) {
    for (int64_t k; (k = next.fetch_add(1, std::memory_order_relaxed)) < chunks;) {
      const int64_t t0 = (chunks - 1 - k) * kAttnTokens;
      attend_chunk(c, w, layer, a, ti, per_thread, 0, c.num_attention_heads, t0,
                   std::min(kAttnTokens, n - t0), scale);
    }
  });
}

// Decode at long contexts (at most kAttnTokens tokens): each thread takes a share of every
// token's positions, whole tiles of kAttnTile, for all heads, so the cache is read once per
// token rather than once per thread; the partial softmax results are then merged as in
// flash-decoding. Three pool passes:
//   1. heads split: absorbed queries of every head into a shared [n, H, W] buffer;
//   2. positions split: per thread and token the partial u [H, rkv], max and denominator;
//   3. heads split: m = max_i m_i, u = Σ_i u_i · e^(m_i − m), s = Σ_i s_i · e^(m_i − m),
//      then o_h = W_vb_h · (u / s).
// Thread i's scratch: qn [n, dn], qt [n, rkv], qf [n, H, W] (thread 0's is the shared one),
// u [n, H, rkv], sc [H, kAttnTile], mx [n, H], sum [n, H].
void attend_split_positions(const ModelConfig& c, const MlaWeights& w, int64_t layer, int64_t n,
                            Activations& a, ThreadPool& pool, int64_t per_thread, float scale) {
  const int64_t H = c.num_attention_heads, dn = c.qk_nope_head_dim, dr = c.qk_rope_head_dim;
  const int64_t rkv = c.kv_lora_rank, W = c.kv_cache_width(), dq = dn + dr;
  auto qn_of = [&](int ti) { return a.head.data() + ti * per_thread; };
  auto qt_of = [&](int ti) { return qn_of(ti) + n * dn; };
  auto qf_of = [&](int ti) { return qt_of(ti) + n * rkv; };
  auto u_of = [&](int ti) { return qf_of(ti) + n * H * W; };
  auto sc_of = [&](int ti) { return u_of(ti) + n * H * rkv; };
  auto mx_of = [&](int ti) { return sc_of(ti) + H * kAttnTile; };
  auto sum_of = [&](int ti) { return mx_of(ti) + n * H; };
  float* qf = qf_of(0);
  // The tiles of token t's positions that thread i takes: [*b, *e).
  auto tiles_of = [&](int64_t t, int i, int nt, int64_t* b, int64_t* e) {
    const int64_t len = a.tok_pos[size_t(t)] + 1;
    split_range((len + kAttnTile - 1) / kAttnTile, i, nt, b, e);
  };
  pool.run([&](int ti, int nt) {
    int64_t h0, h1;
    split_range(H, ti, nt, &h0, &h1);
    float *qn = qn_of(ti), *qt = qt_of(ti);
    for (int64_t h = h0; h < h1; ++h) {
      absorb_query(c, w, a, h, 0, n, qn, qt);
      for (int64_t t = 0; t < n; ++t) {
        float* row = qf + (t * H + h) * W;
        std::copy_n(qt + t * rkv, rkv, row);
        std::copy_n(a.q.data() + (t * H + h) * dq + dn, dr, row + rkv);
      }
    }
  });
  pool.run([&](int ti, int nt) {
    for (int64_t t = 0; t < n; ++t) {
      int64_t b, e;
      tiles_of(t, ti, nt, &b, &e);
      if (b == e) continue;
      const int64_t len = a.tok_pos[size_t(t)] + 1;
      float* ut = u_of(ti) + t * H * rkv;
      std::fill(ut, ut + H * rkv, 0.0f);
      attend_positions(*a.tok_cache[size_t(t)], layer, qf + t * H * W, H, W, rkv, b * kAttnTile,
                       std::min(e * kAttnTile, len), scale, sc_of(ti), mx_of(ti) + t * H,
                       sum_of(ti) + t * H, ut);
    }
  });
  pool.run([&](int ti, int nt) {
    int64_t h0, h1;
    split_range(H, ti, nt, &h0, &h1);
    float* qt = qt_of(ti);
    for (int64_t h = h0; h < h1; ++h) {
      for (int64_t t = 0; t < n; ++t) {
        float* o = qt + t * rkv;
        float m = -INFINITY;
        for (int i = 0; i < nt; ++i) {
          int64_t b, e;
          tiles_of(t, i, nt, &b, &e);
          if (b < e) m = std::max(m, mx_of(i)[t * H + h]);
        }
        float s = 0.0f;
        std::fill(o, o + rkv, 0.0f);
        for (int i = 0; i < nt; ++i) {
          int64_t b, e;
          tiles_of(t, i, nt, &b, &e);
          if (b == e) continue;
          const float f = std::exp(mx_of(i)[t * H + h] - m);
          s += sum_of(i)[t * H + h] * f;
          const float* ui = u_of(i) + (t * H + h) * rkv;
          for (int64_t j = 0; j < rkv; ++j) o[j] += ui[j] * f;
        }
        const float inv = 1.0f / s;
        for (int64_t j = 0; j < rkv; ++j) o[j] *= inv;
      }
      project_values(c, w, a, h, 0, n, qt);
    }
  });
}

}  // namespace

void set_attn_split_min_positions(int64_t n) {
  g_split_min_positions.store(n, std::memory_order_relaxed);
}

int64_t attn_split_min_positions() {
  return g_split_min_positions.load(std::memory_order_relaxed);
}

void set_attn_split_tokens(bool on) {
  g_split_tokens.store(on, std::memory_order_relaxed);
}

bool attn_split_tokens_enabled() {
  return g_split_tokens.load(std::memory_order_relaxed);
}

void Activations::reserve(const ModelConfig& c, int64_t n, int n_threads) {
  if (n <= cap && !head.empty() && int64_t(head.size()) >= n_threads * head_scratch_floats(c, n))
    return;
  cap = std::max(cap, n);
  const int64_t D = c.hidden_size, H = c.num_attention_heads;
  const int64_t I = std::max({c.intermediate_size,
                              c.moe_intermediate_size * std::max<int64_t>(1, c.n_shared_experts),
                              c.moe_intermediate_size});
  auto sz = [&](int64_t per_token) { return size_t(cap * per_token); };
  x.resize(sz(D));
  xn.resize(sz(D));
  out.resize(sz(D));
  q_a.resize(sz(std::max<int64_t>(1, c.q_lora_rank)));
  q.resize(sz(H * c.qk_head_dim()));
  kv.resize(sz(c.kv_cache_width()));
  attn.resize(sz(H * c.v_head_dim));
  cos_sin.resize(sz(c.qk_rope_head_dim));
  head.resize(size_t(n_threads * head_scratch_floats(c, cap)));
  router.resize(sz(std::max<int64_t>(1, c.n_routed_experts)));
  ffn_in.resize(sz(D));
  ffn_g.resize(sz(I));
  ffn_u.resize(sz(I));
  ffn_y.resize(sz(D));
  topk_idx.resize(sz(std::max<int64_t>(1, c.num_experts_per_tok)));
  topk_w.resize(sz(std::max<int64_t>(1, c.num_experts_per_tok)));
  tok_cache.resize(size_t(cap));
  tok_pos.resize(size_t(cap));
}

void mla_write_latent(const Model& m, const MlaWeights& w, int64_t layer, int64_t n, Activations& a,
                      ThreadPool& pool) {
  const ModelConfig& c = m.config;
  const int64_t dr = c.qk_rope_head_dim, rkv = c.kv_lora_rank, W = c.kv_cache_width();
  // Keys: the latent (normalised) and the shared RoPE key go straight into the cache.
  matmul(w.kv_a, a.xn.data(), n, a.kv.data(), pool);
  rope_table(m, a.tok_pos.data(), n, a.cos_sin.data());
  for (int64_t t = 0; t < n; ++t) {
    float* kv = a.kv.data() + t * W;  // finished in place, then stored in the cache's type
    rms_norm(kv, w.kv_a_norm.data(), rkv, c.rms_norm_eps, kv);
    rope_apply(kv + rkv, a.cos_sin.data() + t * dr, dr);
    a.tok_cache[size_t(t)]->store(layer, a.tok_pos[size_t(t)], kv);
  }
}

void mla_attention(const Model& m, const MlaWeights& w, int64_t layer, int64_t n, Activations& a,
                   ThreadPool& pool) {
  const ModelConfig& c = m.config;
  const int64_t H = c.num_attention_heads, dn = c.qk_nope_head_dim, dr = c.qk_rope_head_dim;
  const int64_t dq = dn + dr;
  const float scale = float(c.softmax_scale());

  // Queries: q = q_b(RMSNorm(q_a(x))) or q_proj(x).
  if (c.q_lora_rank > 0) {
    matmul(w.q_a, a.xn.data(), n, a.q_a.data(), pool);
    parallel_ranges(pool, n, 4 * c.q_lora_rank, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t)
        rms_norm(a.q_a.data() + t * c.q_lora_rank, w.q_a_norm.data(), c.q_lora_rank, c.rms_norm_eps,
                 a.q_a.data() + t * c.q_lora_rank);
    });
    matmul(w.q_b, a.q_a.data(), n, a.q.data(), pool);
  } else {
    matmul(w.q, a.xn.data(), n, a.q.data(), pool);
  }
  mla_write_latent(m, w, layer, n, a, pool);
  parallel_ranges(pool, n, 4 * H * dr, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t)
      for (int64_t h = 0; h < H; ++h)
        rope_apply(a.q.data() + (t * H + h) * dq + dn, a.cos_sin.data() + t * dr, dr);
  });

  const int64_t per_thread = int64_t(a.head.size()) / pool.size();
  int64_t longest = 0;
  for (int64_t t = 0; t < n; ++t) longest = std::max(longest, a.tok_pos[size_t(t)] + 1);
  if (n <= kAttnTokens && longest >= attn_split_min_positions()) {
    attend_split_positions(c, w, layer, n, a, pool, per_thread, scale);
  } else if (attn_split_tokens_enabled() && n >= 2 * kAttnTokens * pool.size()) {
    attend_split_tokens(c, w, layer, n, a, pool, per_thread, scale);
  } else {
    attend_split_heads(c, w, layer, n, a, pool, per_thread, scale);
  }
  matmul(w.o, a.attn.data(), n, a.out.data(), pool);
}

}  // namespace ds
