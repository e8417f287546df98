// How many tokens to draft with the MTP module, from the bytes each choice reads per
// generated token (tools/perf/mtp_cost_model.py is the same model in Python; see
// docs/PERFORMANCE.md, "Speculative decoding").
#pragma once

#include <vector>

namespace ds {

class Model;

/// Weight bytes read per generated token when drafting k tokens (k = 0 … max_draft), if each
/// chained draft is accepted with probability `accept`. Index k of the result.
std::vector<double> mtp_bytes_per_token(const Model& m, double accept, int max_draft = 4);

/// The draft count with the fewest bytes per token, or 0 when no count saves at least
/// `min_gain` (a fraction) over plain decoding, or the model has no MTP module.
int choose_mtp_drafts(const Model& m, double accept = 0.85, double min_gain = 0.05);

}  // namespace ds
