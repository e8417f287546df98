// Sampling flags shared by run, chat and bench; speculative-decoding flags also by serve.
#pragma once

#include <CLI/CLI.hpp>

#include "model/weights.h"
#include "runtime/mtp_policy.h"
#include "runtime/sampler.h"

#include <algorithm>

namespace ds::cli {

/// Adds --temp, --top-k, --top-p, --min-p, --repeat-penalty, --presence-penalty,
/// --frequency-penalty and --seed to `app`, writing into `p`.
inline void add_sampling_options(CLI::App& app, SamplingParams& p) {
  app.add_option("--temp,--temperature", p.temperature, "Sampling temperature (0: greedy)")
      ->check(CLI::Range(0.0, 100.0));
  app.add_option("--top-k", p.top_k, "Keep the k most likely tokens (0: off)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--top-p", p.top_p, "Nucleus sampling mass (1: off)")->check(CLI::Range(0.0, 1.0));
  app.add_option("--min-p", p.min_p, "Drop tokens below min-p × the best probability")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--repeat-penalty", p.repetition_penalty, "Repetition penalty (1: off)")
      ->check(CLI::Range(0.0, 10.0));
  app.add_option("--presence-penalty", p.presence_penalty, "Presence penalty")
      ->check(CLI::Range(-2.0, 2.0));
  app.add_option("--frequency-penalty", p.frequency_penalty, "Frequency penalty")
      ->check(CLI::Range(-2.0, 2.0));
  app.add_option("--seed", p.seed, "Random seed (same seed and threads: same output)");
}

/// Speculative decoding with the model's MTP module: --spec auto|mtp|none (or off), --draft K.
struct SpecOptions {
  std::string mode = "auto";
  int draft = 0;  // 0: chosen from the model's shape (choose_mtp_drafts)
  /// Drafts per step to use with `m` (0: plain decoding). "auto" uses MTP when the cost
  /// model says it reads fewer weight bytes per token; "mtp" always (K from the cost model
  /// unless --draft is given).
  int drafts_for(const Model& m) const {
    if (mode == "none" || mode == "off" || m.mtp.empty()) return 0;
    if (draft > 0) return draft;
    const int k = choose_mtp_drafts(m);
    return mode == "mtp" ? std::max(k, 1) : k;
  }
  /// The acceptance below which a generation stops drafting: the break-even point of the
  /// cost model in "auto" mode, so that MTP on text it cannot predict (a random-weight
  /// model, an unusual prompt) costs only its first 32 drafts; never when asked for (mtp).
  double min_accept_for(const Model& m, int drafts) const {
    return mode == "auto" && drafts > 0 ? mtp_break_even_accept(m, drafts) : 0.0;
  }
};

inline void add_spec_options(CLI::App& app, SpecOptions& s) {
  app.add_option("--spec", s.mode,
                 "Speculative decoding: auto (MTP when the model has it), mtp, none (or off)")
      ->check(CLI::IsMember({"auto", "mtp", "none", "off"}));
  app.add_option("--draft", s.draft,
                 "Tokens drafted per step by the MTP module (default: from the cost model)")
      ->check(CLI::Range(1, 8));
}

}  // namespace ds::cli
