#include "runtime/sampler.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "backend/cpu/kernels.h"

namespace ds {

namespace {
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}
}  // namespace

Rng::Rng(uint64_t seed) {
  for (auto& s : s_) s = splitmix64(seed);
}

uint64_t Rng::next() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

int32_t argmax(const float* logits, int64_t vocab) {
  // The first index of the largest value (NaN never wins, as with `>` one by one): the maximum
  // over 8 independent running maxima (a chain of compares through one index was the serial
  // cost of greedy sampling, a few tens of µs per token of a 129K vocabulary), then the first
  // position holding it. SSE2 (every x86-64) where there is one: maxps(x, m) is x > m ? x : m,
  // the same rule lane by lane.
  constexpr int kLanes = 8;
  float m[kLanes];
  for (float& v : m) v = logits[0];
  int64_t i = 0;
#if defined(__SSE2__)
  __m128 m0 = _mm_set1_ps(logits[0]), m1 = m0;
  for (; i + kLanes <= vocab; i += kLanes) {
    m0 = _mm_max_ps(_mm_loadu_ps(logits + i), m0);
    m1 = _mm_max_ps(_mm_loadu_ps(logits + i + 4), m1);
  }
  _mm_storeu_ps(m, m0);
  _mm_storeu_ps(m + 4, m1);
#endif
  for (; i + kLanes <= vocab; i += kLanes)
    for (int j = 0; j < kLanes; ++j) m[j] = logits[i + j] > m[j] ? logits[i + j] : m[j];
  float best = m[0];
  for (int j = 1; j < kLanes; ++j) best = m[j] > best ? m[j] : best;
  for (; i < vocab; ++i) best = logits[i] > best ? logits[i] : best;
  int64_t k = 0;
#if defined(__SSE2__)
  const __m128 b = _mm_set1_ps(best);
  for (; k + 4 <= vocab; k += 4)
    if (const int hit = _mm_movemask_ps(_mm_cmpeq_ps(_mm_loadu_ps(logits + k), b)))
      return int32_t(k + __builtin_ctz(unsigned(hit)));
#endif
  for (; k < vocab; ++k)
    if (logits[k] == best) return int32_t(k);
  return 0;  // every value NaN (or the first one, with nothing larger)
}

Sampler::Sampler(const SamplingParams& p) : p_(p), rng_(p.seed) {}

void Sampler::reset() {
  rng_ = Rng(p_.seed);
  history_.clear();
  counts_.clear();
  cand_.clear();
}

void Sampler::accept(int32_t token) {
  history_.push_back(token);
  ++counts_[token];
}

void Sampler::apply_penalties(float* logits, int64_t vocab) const {
  if (p_.repetition_penalty != 1.0f && !history_.empty()) {
    const size_t n = p_.penalty_last_n < 0 ? history_.size()
                                           : std::min(history_.size(), size_t(p_.penalty_last_n));
    std::unordered_set<int32_t> seen(history_.end() - long(n), history_.end());
    for (int32_t t : seen) {
      if (t < 0 || t >= vocab) continue;
      logits[t] =
          logits[t] > 0 ? logits[t] / p_.repetition_penalty : logits[t] * p_.repetition_penalty;
    }
  }
  if (p_.presence_penalty != 0.0f || p_.frequency_penalty != 0.0f)
    for (const auto& [t, c] : counts_) {
      if (t < 0 || t >= vocab) continue;
      logits[t] -= p_.presence_penalty + p_.frequency_penalty * float(c);
    }
}

namespace {
// The candidates' order: descending logit, ties lower id first.
struct ByLogit {
  const float* logits;
  bool operator()(int32_t a, int32_t b) const {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  }
};

// Σ w[0, n) in double, four partial sums (one chain would be the pass's bound).
double sum_weights(const float* w, int64_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t k = 0;
  for (; k + 4 <= n; k += 4) {
    s0 += w[k];
    s1 += w[k + 1];
    s2 += w[k + 2];
    s3 += w[k + 3];
  }
  for (; k < n; ++k) s0 += w[k];
  return (s0 + s1) + (s2 + s3);
}
}  // namespace

// How many of the sorted ids_[0, end) the top-p walk keeps: from `begin`, with `cum` the
// weight before it, up to and including the token whose weight brings the sum to `target`
// (at least one token).
size_t Sampler::walk_to_mass(size_t begin, size_t end, double cum, double target) const {
  size_t n = begin;
  while (n < end) {
    cum += w_[size_t(ids_[n++])];
    if (cum >= target) break;
  }
  return std::max<size_t>(n, 1);
}

// Keeps in ids_ the smallest set of the highest-logit tokens among ids_[0, end) (ties: lower
// id first) whose weight in w_ reaches `target`, as the definition walks them in sorted
// order; returns how many (ids_[0, n), in no particular order). Sorting them all cost up to
// 10 ms per token on a flat distribution over a 129K vocabulary, so the undecided range is
// bucketed by logit, highest first, until the bucket where the target is crossed is small
// enough to sort.
size_t Sampler::cut_by_mass(const float* logits, size_t end, double target) {
  constexpr int kBuckets = 1024;
  constexpr size_t kSortBelow = 512;
  size_t begin = 0;   // ids_[0, begin): kept (higher buckets)
  double before = 0;  // their weight
  double mass[kBuckets + 1];
  size_t count[kBuckets + 1];
  while (end - begin > kSortBelow) {
    float hi = -INFINITY, lo = INFINITY;
    for (size_t i = begin; i < end; ++i) {
      const int32_t id = ids_[i];
      if (w_[size_t(id)] <= 0.0f) continue;
      hi = std::max(hi, logits[id]);
      lo = std::min(lo, logits[id]);
    }
    if (!(hi > lo)) break;  // one logit (or none with weight): sort what is left
    const float scale = float(kBuckets) / (hi - lo);
    // Bucket b holds logits in (hi − (b+1)/scale, hi − b/scale]; weightless tokens last.
    auto bucket = [&](int32_t id) {
      if (w_[size_t(id)] <= 0.0f) return kBuckets;
      return std::min(kBuckets - 1, int((hi - logits[id]) * scale));
    };
    std::fill(mass, mass + kBuckets + 1, 0.0);
    std::fill(count, count + kBuckets + 1, size_t(0));
    for (size_t i = begin; i < end; ++i) {
      const int b = bucket(ids_[i]);
      mass[b] += w_[size_t(ids_[i])];
      ++count[b];
    }
    int star = kBuckets;
    double cum = before;
    for (int b = 0; b <= kBuckets; ++b) {
      if (count[b] == 0) continue;
      star = b;
      if (cum + mass[b] >= target) break;
      cum += mass[b];
    }
    size_t n_hi = 0;
    for (int b = 0; b < star; ++b) n_hi += count[b];
    if (count[star] == end - begin) break;  // no progress: sort
    // ids_[begin, end) → [buckets above star][bucket star]; the rest is dropped.
    scratch_.resize(n_hi + count[star]);
    size_t up = 0, at = n_hi;
    for (size_t i = begin; i < end; ++i) {
      const int b = bucket(ids_[i]);
      if (b < star)
        scratch_[up++] = ids_[i];
      else if (b == star)
        scratch_[at++] = ids_[i];
    }
    std::copy(scratch_.begin(), scratch_.end(), ids_.begin() + long(begin));
    end = begin + scratch_.size();
    begin += n_hi;
    before = cum;
  }
  std::sort(ids_.begin() + long(begin), ids_.begin() + long(end), ByLogit{logits});
  return walk_to_mass(begin, end, before, target);
}

void Sampler::prepare(float* logits, int64_t vocab) {
  cand_.clear();
  all_.clear();
  tail_ = false;
  apply_penalties(logits, vocab);
  const int32_t best = argmax(logits, vocab);
  if (p_.temperature <= 0.0f || !std::isfinite(logits[best])) {  // greedy: all mass on it
    cand_.push_back({best, 1.0f});
    return;
  }
  // Weights w[i] = exp((logit[i] − max) / T), by the SIMD exp of the kernels (within 2 ulp of
  // expf; 0 below e^−87): one pass over the vocabulary. The best token's weight is 1.
  const float inv_t = 1.0f / p_.temperature, mx = logits[best];
  w_.resize(size_t(vocab));
  for (int64_t i = 0; i < vocab; ++i) w_[size_t(i)] = (logits[i] - mx) * inv_t;
  cpu_kernels().exp_shifted_sum(w_.data(), vocab, 0.0f);
  const float* w = w_.data();

  const bool top_k = p_.top_k > 0 && p_.top_k < vocab;
  if (!top_k && p_.min_p <= 0.0f && p_.top_p >= 1.0f) {
    // No filter: every token is a candidate. The best one is listed; the others keep their
    // weights in w_ and are read in id order (any fixed order samples the same distribution).
    inv_mass_ = 1.0 / sum_weights(w, vocab);
    cand_.push_back({best, float(w_[size_t(best)] * inv_mass_)});
    w_[size_t(best)] = 0.0f;
    tail_ = true;
    tail_mass_ = std::max(0.0, 1.0 - cand_[0].second);
    return;
  }

  // ids_: the candidates. With top_k, the top_k tokens, sorted, found among the tokens whose
  // weight reaches tau, tau falling until there are enough of them. With top_p, the
  // smallest prefix of the sorted order holding top_p of the mass (cut_by_mass), found among
  // such tokens, tau falling until they hold that much. Without either, every token min_p
  // keeps (w ≥ min_p: the best one's weight is 1). Selecting by tau takes all tokens whose
  // logit reaches the lowest among those with w ≥ tau: a prefix of the sorted order
  // whatever the exp's last bit does.
  // The weight of the candidates before min_p and top_p: what their probabilities are of.
  double total = sum_weights(w, vocab);
  ids_.clear();
  size_t keep = 0;
  if (top_k || p_.top_p < 1.0f) {
    double mass = 0;
    for (float tau : {0x1p-10f, 0x1p-20f, 0x1p-40f, 0.0f}) {
      float lowest = mx;
      for (int64_t k = 0; k < vocab; ++k)
        lowest = w[k] >= tau && logits[k] < lowest ? logits[k] : lowest;
      ids_.clear();
      mass = 0;
      for (int64_t k = 0; k < vocab; ++k)
        if (logits[k] >= lowest) {
          ids_.push_back(int32_t(k));
          mass += w[k];
        }
      if (top_k ? int64_t(ids_.size()) >= p_.top_k : mass >= double(p_.top_p) * total) break;
    }
    if (top_k) {
      std::partial_sort(ids_.begin(), ids_.begin() + p_.top_k, ids_.end(), ByLogit{logits});
      ids_.resize(size_t(p_.top_k));
      total = 0;
      for (int32_t id : ids_) total += w[id];
      keep = ids_.size();
      if (p_.min_p > 0.0f) {  // drop tokens below min_p × the best probability
        keep = 1;
        while (keep < ids_.size() && w[ids_[keep]] >= p_.min_p) ++keep;
      }
      if (p_.top_p < 1.0f)  // the smallest prefix whose mass reaches top_p
        keep = walk_to_mass(0, keep, 0.0, double(p_.top_p) * total);
    } else {
      keep = cut_by_mass(logits, ids_.size(), double(p_.top_p) * total);
      if (p_.min_p > 0.0f)  // both prefixes: the shorter one
        keep = size_t(std::partition(ids_.begin(), ids_.begin() + long(keep),
                                     [&](int32_t id) { return w[id] >= p_.min_p; }) -
                      ids_.begin());
    }
  } else {
    for (int64_t k = 0; k < vocab; ++k)
      if (w[k] >= p_.min_p) ids_.push_back(int32_t(k));
    keep = ids_.size();
  }
  if (keep == 0) {  // min_p above 1 (the best token always stays)
    ids_.assign(1, best);
    keep = 1;
  }
  double mass = 0;
  for (size_t i = 0; i < keep; ++i) mass += w[ids_[i]];
  inv_mass_ = 1.0 / mass;
  for (size_t i = 0; i < keep; ++i) cand_.push_back({ids_[i], float(w[ids_[i]] * inv_mass_)});
  // The best token first (the rest in no particular order).
  for (auto& c : cand_)
    if (c.first == best) {
      std::swap(c, cand_[0]);
      break;
    }
}

const std::vector<std::pair<int32_t, float>>& Sampler::candidates() const {
  if (!tail_) return cand_;
  if (all_.empty()) {
    all_ = cand_;
    for (size_t k = 0; k < w_.size(); ++k)
      if (w_[k] > 0.0f) all_.push_back({int32_t(k), float(w_[k] * inv_mass_)});
  }
  return all_;
}

int32_t Sampler::draw(int32_t excluded) {
  if (p_.temperature <= 0.0f) return cand_[0].first;
  double mass = 0;
  for (const auto& [id, p] : cand_)
    if (id != excluded) mass += p;
  if (tail_) {
    mass += tail_mass_;
    if (excluded >= 0 && size_t(excluded) < w_.size()) mass -= w_[size_t(excluded)] * inv_mass_;
  }
  if (mass <= 0) return cand_[0].first;
  const double r = rng_.uniform() * mass;
  double acc = 0;
  int32_t last = cand_[0].first;
  for (const auto& [id, p] : cand_) {
    if (id == excluded) continue;
    acc += p;
    last = id;
    if (r < acc) return id;
  }
  if (tail_)
    for (size_t k = 0; k < w_.size(); ++k) {
      if (w_[k] <= 0.0f || int32_t(k) == excluded) continue;
      acc += w_[k] * inv_mass_;
      last = int32_t(k);
      if (r < acc) return last;
    }
  return last;
}

float Sampler::prob(int32_t id) const {
  for (const auto& [i, p] : cand_)
    if (i == id) return p;
  if (tail_ && id >= 0 && size_t(id) < w_.size()) return float(w_[size_t(id)] * inv_mass_);
  return 0.0f;
}

bool Sampler::accept_draft(int32_t draft) {
  if (p_.temperature <= 0.0f) return cand_[0].first == draft;
  return rng_.uniform() < double(prob(draft));
}

int32_t Sampler::sample(float* logits, int64_t vocab) {
  prepare(logits, vocab);
  return draw();
}

}  // namespace ds
