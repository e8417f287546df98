// Token sampling: greedy, temperature, top-k, top-p, min-p and repetition / presence /
// frequency penalties. Deterministic for a fixed seed (own RNG, no std distributions).
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace ds {

struct SamplingParams {
  float temperature = 0.0f;  // 0: greedy
  int32_t top_k = 0;         // 0: off
  float top_p = 1.0f;        // 1: off
  float min_p = 0.0f;        // 0: off
  float repetition_penalty =
      1.0f;                        // 1: off (CTRL-style: divide positive logits, multiply negative)
  float presence_penalty = 0.0f;   // OpenAI-style: subtract once per token seen
  float frequency_penalty = 0.0f;  // OpenAI-style: subtract per occurrence
  int32_t penalty_last_n = 64;     // window for the repetition penalty; -1: whole history
  uint64_t seed = 0;
};

/// splitmix64 → xoshiro256**: the same stream on every platform for a given seed.
class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t next();
  /// Uniform in [0, 1) with 53 random bits.
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t s_[4];
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& p);
  /// Picks a token from logits [vocab] (modified in place by penalties): prepare() + draw().
  int32_t sample(float* logits, int64_t vocab);
  /// Computes the distribution the next draw samples from (penalties, temperature, top-k,
  /// min-p, top-p); greedy puts all mass on the argmax. See candidates().
  void prepare(float* logits, int64_t vocab);
  /// Draws from the prepared distribution, renormalised without `excluded` (−1: none).
  int32_t draw(int32_t excluded = -1);
  /// Probability of `id` under the prepared distribution.
  float prob(int32_t id) const;
  /// Speculative decoding's lossless test for a deterministic draft: accepts `draft` with
  /// probability p(draft) (greedy: iff it is the argmax). On false, draw(draft) gives the
  /// token to use instead, so the output follows the prepared distribution exactly.
  bool accept_draft(int32_t draft);
  /// Records a token of the context (prompt or generated) for the penalties.
  void accept(int32_t token);
  /// The prepared distribution over the candidates kept by the filters: (token, p), the most
  /// likely token first, the others in no particular (but fixed) order; one entry, p = 1,
  /// when greedy. Tokens whose weight underflows (below e^−87 of the best) are left out.
  const std::vector<std::pair<int32_t, float>>& candidates() const;
  const SamplingParams& params() const { return p_; }
  void reset();

 private:
  void apply_penalties(float* logits, int64_t vocab) const;
  size_t cut_by_mass(const float* logits, size_t end, double target);
  size_t walk_to_mass(size_t begin, size_t end, double cum, double target) const;

  SamplingParams p_;
  Rng rng_;
  std::vector<int32_t> history_;
  std::unordered_map<int32_t, int32_t> counts_;
  std::vector<std::pair<int32_t, float>> cand_;
  // Without filters only the likeliest candidates are in cand_; the others (tail_) keep
  // their weights in w_, and probability w · inv_mass_ (tail_mass_ in all).
  bool tail_ = false;
  double inv_mass_ = 0, tail_mass_ = 0;
  std::vector<float> w_;                                // exp((logit − max) / T) of every token
  std::vector<int32_t> ids_;                            // scratch: the sorted candidates
  std::vector<int32_t> scratch_;                        // scratch of cut_by_mass
  mutable std::vector<std::pair<int32_t, float>> all_;  // candidates() with the tail
};

/// Index of the largest logit (lowest index on ties).
int32_t argmax(const float* logits, int64_t vocab);

}  // namespace ds
