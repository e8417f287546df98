// Text generation on one Session: prefix reuse, sampling, stop conditions, streaming text.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/sampler.h"

namespace ds {

class Session;
class Tokenizer;

struct GenerationParams {
  int64_t max_tokens = 256;
  SamplingParams sampling;
  std::vector<std::string> stop;  // stop strings (not included in the output)
  std::vector<int32_t> stop_ids;  // extra token ids that end generation (EOS is always one)
  bool skip_special = false;      // hide special tokens in the text
  /// Speculative decoding with the model's MTP module: drafts per step (0: off). Needs a
  /// model with an MTP module and a Session with keep_hidden set before its first token;
  /// otherwise decoding is plain. The output is exactly what plain decoding gives (greedy)
  /// or follows the same distribution (sampling).
  int spec_draft = 0;
  /// When > 0: once at least 32 drafts were made and fewer than this share of them was
  /// accepted, stop drafting for the rest of the generation (the drafts do not pay on this
  /// text; `--spec auto` sets the cost model's break-even acceptance).
  double spec_min_accept = 0;
  bool ignore_eos = false;  // generate max_tokens whatever comes (benchmarks)
};

struct GenerationResult {
  std::vector<int32_t> tokens;  // generated ids (EOS excluded)
  std::string text;             // their text, cut at a stop string
  std::string finish_reason;    // "stop", "length" or "cancelled"
  int64_t n_prompt = 0;         // prompt tokens
  int64_t n_cached = 0;         // prompt tokens whose KV came from the session's cache
  double prefill_s = 0, decode_s = 0;
  int64_t n_drafted = 0, n_accepted = 0;  // speculative decoding
};

/// Receives each piece of text as soon as it is final (stop strings held back); returns
/// false to cancel. `token` is the id that completed the piece (−1 for a final flush).
using TextCallback = std::function<bool(int32_t token, const std::string& piece)>;

/// Generates after `prompt`. Reuses the longest prefix of `prompt` already in `s` (earlier
/// turns of a chat), so only the new tokens are prefilled. Throws ds::Error when the prompt
/// does not fit the context.
GenerationResult generate(Session& s, const Tokenizer& tok, const std::vector<int32_t>& prompt,
                          const GenerationParams& p, const TextCallback& on_text);
/// The same without text: `tok` may be null (token ids only; benchmarks), and then only
/// the model's eos_token_id and p.stop_ids end generation.
GenerationResult generate(Session& s, const Tokenizer* tok, const std::vector<int32_t>& prompt,
                          const GenerationParams& p, const TextCallback& on_text);

}  // namespace ds
