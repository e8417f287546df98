// Token sampling: greedy, temperature, top-k, top-p, min-p and repetition / presence /
// frequency penalties. Deterministic for a fixed seed (own RNG, no std distributions).
#pragma once

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
  /// Picks a token from logits [vocab] (modified in place by penalties and temperature).
  int32_t sample(float* logits, int64_t vocab);
  /// Records a token of the context (prompt or generated) for the penalties.
  void accept(int32_t token);
  /// The probabilities the last sample drew from, for candidates kept by the filters:
  /// (token, p) sorted by p descending. Empty after a greedy pick.
  const std::vector<std::pair<int32_t, float>>& candidates() const { return cand_; }
  const SamplingParams& params() const { return p_; }
  void reset();

 private:
  void apply_penalties(float* logits, int64_t vocab) const;

  SamplingParams p_;
  Rng rng_;
  std::vector<int32_t> history_;
  std::unordered_map<int32_t, int32_t> counts_;
  std::vector<std::pair<int32_t, float>> cand_;
};

/// Index of the largest logit (lowest index on ties).
int32_t argmax(const float* logits, int64_t vocab);

}  // namespace ds
