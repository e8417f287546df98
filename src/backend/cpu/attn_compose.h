// Attention kernels (CpuKernels::attn_scores / attn_values and their BF16-cache forms) built
// from a table's own dot product and axpy, one cache row at a time: the scalar and NEON
// tables' versions.
#pragma once

#include <cstdint>

namespace ds {

/// out[h·os + s] = scale · Dot(q + h·qs, kv + s·ks, w) for h < nh, s < len.
template <class KV, float (*Dot)(const float*, const KV*, int64_t)>
void attn_scores_by(const float* q, int64_t qs, int64_t nh, const KV* kv, int64_t ks, int64_t len,
                    int64_t w, float scale, float* out, int64_t os) {
  for (int64_t h = 0; h < nh; ++h)
    for (int64_t s = 0; s < len; ++s) out[h * os + s] = scale * Dot(q + h * qs, kv + s * ks, w);
}

/// u[h·us + j] += Σ_s p[h·ps + s] · kv[s·ks + j] for h < nh, j < r, by Axpy per cache row.
template <class KV, void (*Axpy)(float, const KV*, float*, int64_t)>
void attn_values_by(const float* p, int64_t ps, int64_t nh, const KV* kv, int64_t ks, int64_t len,
                    int64_t r, float* u, int64_t us) {
  for (int64_t h = 0; h < nh; ++h)
    for (int64_t s = 0; s < len; ++s) Axpy(p[h * ps + s], kv + s * ks, u + h * us, r);
}

}  // namespace ds
