// How many tokens to draft with the MTP module, from the bytes each choice reads per
// generated token (tools/perf/mtp_cost_model.py is the same model in Python; see
// docs/PERFORMANCE.md, "Speculative decoding").
#pragma once

#include <vector>

namespace ds {

class Model;

/// Chained drafts beyond the depth the module was trained for (one step ahead for every
/// released DeepSeek MTP module) are accepted less often: the shipped model accepts 99.5% of
/// its first drafts but only 46% of second ones given the first. The cost model multiplies
/// the acceptance of each draft beyond the first by this factor.
inline constexpr double kChainedDraftFactor = 0.5;

/// Weight bytes read per generated token when drafting k tokens (k = 0 … max_draft), if the
/// first draft is accepted with probability `accept` and each further chained one with
/// accept · kChainedDraftFactor (given the previous one was). Index k of the result.
std::vector<double> mtp_bytes_per_token(const Model& m, double accept, int max_draft = 4);

/// The lowest first-draft acceptance at which drafting k tokens reads no more bytes per
/// generated token than plain decoding (1 when even perfect drafts do not pay).
double mtp_break_even_accept(const Model& m, int k);

/// The draft count with the fewest bytes per token, or 0 when no count saves at least
/// `min_gain` (a fraction) over plain decoding, or the model has no MTP module.
int choose_mtp_drafts(const Model& m, double accept = 0.85, double min_gain = 0.05);

}  // namespace ds
