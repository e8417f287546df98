#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

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
  // position holding it.
  constexpr int kLanes = 8;
  float m[kLanes];
  for (float& v : m) v = logits[0];
  int64_t i = 0;
  for (; i + kLanes <= vocab; i += kLanes)
    for (int j = 0; j < kLanes; ++j) m[j] = logits[i + j] > m[j] ? logits[i + j] : m[j];
  float best = m[0];
  for (int j = 1; j < kLanes; ++j) best = m[j] > best ? m[j] : best;
  for (; i < vocab; ++i) best = logits[i] > best ? logits[i] : best;
  for (int64_t k = 0; k < vocab; ++k)
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

void Sampler::prepare(float* logits, int64_t vocab) {
  cand_.clear();
  apply_penalties(logits, vocab);
  if (p_.temperature <= 0.0f) {  // greedy: all mass on the argmax
    cand_.push_back({argmax(logits, vocab), 1.0f});
    return;
  }
  // Candidates in descending logit order (ties: lower id first), cut by top-k.
  std::vector<int32_t> ids(static_cast<size_t>(vocab));
  for (int64_t i = 0; i < vocab; ++i) ids[size_t(i)] = int32_t(i);
  auto by_logit = [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  int64_t k = vocab;
  if (p_.top_k > 0 && p_.top_k < vocab) {
    k = p_.top_k;
    std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), by_logit);
  } else {
    std::sort(ids.begin(), ids.end(), by_logit);
  }
  ids.resize(size_t(k));
  const float inv_t = 1.0f / p_.temperature;
  const float mx = logits[ids[0]];
  std::vector<double> probs(ids.size());
  double sum = 0;
  for (size_t i = 0; i < ids.size(); ++i)
    sum += probs[i] = std::exp(double((logits[ids[i]] - mx) * inv_t));
  for (auto& p : probs) p /= sum;
  size_t keep = ids.size();
  if (p_.min_p > 0.0f) {  // drop tokens below min_p × the best probability
    const double floor = p_.min_p * probs[0];
    keep = 1;
    while (keep < ids.size() && probs[keep] >= floor) ++keep;
  }
  if (p_.top_p < 1.0f) {  // smallest prefix whose mass reaches top_p
    double cum = 0;
    size_t n = 0;
    while (n < keep) {
      cum += probs[n++];
      if (cum >= p_.top_p) break;
    }
    keep = std::max<size_t>(n, 1);
  }
  double mass = 0;
  for (size_t i = 0; i < keep; ++i) mass += probs[i];
  for (size_t i = 0; i < keep; ++i) cand_.push_back({ids[i], float(probs[i] / mass)});
}

int32_t Sampler::draw(int32_t excluded) {
  if (p_.temperature <= 0.0f) return cand_[0].first;
  double mass = 0;
  for (const auto& [id, p] : cand_)
    if (id != excluded) mass += p;
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
  return last;
}

float Sampler::prob(int32_t id) const {
  for (const auto& [i, p] : cand_)
    if (i == id) return p;
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
