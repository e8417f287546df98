// Speculative decoding with the model's MTP module (docs/speculative.md): drafting, the
// lossless acceptance of drafts and the adaptive stop. Shared by the generator (one sequence)
// and the server's scheduler (many sequences, drafted together).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace ds {

class Model;
class Session;
class Sampler;
class ThreadPool;
struct Activations;

/// One sequence to draft for. `last` is the token sampled after the session's cached positions
/// (it goes to position P = n_past() next); the session keeps its hidden states.
struct DraftSeq {
  Session* session = nullptr;
  int32_t last = 0;
  int n_draft = 0;              // drafts wanted
  std::vector<int32_t> drafts;  // out: greedy drafts for positions P+1 …, at most n_draft
};

/// Brings each sequence's MTP cache up to date through position P−1, the last pair being
/// (h_{P−1}, last), and drafts greedily for positions P+1 … P+n_draft (chaining the module on
/// its own output); drafts stop where the context ends. The rows of all sequences run
/// together: one pass over the module's weights per draft depth. Throws ds::Error when the
/// model has no MTP module or a sequence does not fit.
void draft_tokens(const Model& m, DraftSeq* seqs, size_t n_seqs, Activations& act,
                  ThreadPool& pool);

/// Outcome of verifying one step's drafts.
struct DraftVerdict {
  int64_t accepted = 0;  // drafts accepted (each handed to emit)
  bool go_on = true;     // false: emit() ended the generation
  int32_t next = -1;     // when go_on: the token after the accepted drafts, from row `accepted`
};

/// Accepts drafts[0 … k) left to right with the lossless rule (Sampler::accept_draft): row j
/// of the verifying pass holds the main model's logits for the position of drafts[j] (row k:
/// the one after the last draft). prepare(j) must leave row j's distribution prepared in
/// `sampler`; each accepted draft goes to emit(), which returns false to end generation. The
/// first rejected draft is replaced by a draw from its row without it; when every draft is
/// accepted, row k gives a bonus token. Greedy: the output is what plain decoding gives;
/// sampling: it follows the same distribution.
DraftVerdict verify_drafts(Sampler& sampler, const int32_t* drafts, int64_t k,
                           const std::function<void(int64_t row)>& prepare,
                           const std::function<bool(int32_t token)>& emit);

/// Drafts made before the adaptive stop judges the acceptance.
inline constexpr int64_t kSpecMinDrafts = 32;

/// The adaptive stop: false once at least kSpecMinDrafts drafts were made and fewer than
/// `min_accept` of them were accepted (the drafts do not pay on this text). `min_accept` ≤ 0:
/// always true.
inline bool drafting_pays(int64_t drafted, int64_t accepted, double min_accept) {
  return min_accept <= 0 || drafted < kSpecMinDrafts ||
         double(accepted) >= min_accept * double(drafted);
}

}  // namespace ds
