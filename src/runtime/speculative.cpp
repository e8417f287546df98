#include "runtime/speculative.h"

#include <algorithm>

#include "core/error.h"
#include "model/forward.h"
#include "runtime/sampler.h"

namespace ds {

void draft_tokens(const Model& m, DraftSeq* seqs, size_t n_seqs, Activations& act,
                  ThreadPool& pool) {
  const int64_t D = m.config.hidden_size, V = m.config.vocab_size;
  if (m.mtp.empty()) throw Error("the model has no MTP module to draft with");
  for (size_t i = 0; i < n_seqs; ++i) {
    const Session& s = *seqs[i].session;
    seqs[i].drafts.clear();
    if (seqs[i].n_draft > 0 && (!s.keeps_hidden() || s.n_past() < 1))
      throw Error(cat("drafting needs a started session that keeps its hidden states"));
  }
  // A draft for position P+1 needs room for it: none when `last` takes the last position.
  auto wants = [&](size_t i) {
    return seqs[i].n_draft > 0 && seqs[i].session->n_past() + 1 < seqs[i].session->ctx_size();
  };
  std::vector<Session*> row_session;
  std::vector<float> hidden, out, logits;
  std::vector<int32_t> tok;
  std::vector<int64_t> pos;
  std::vector<size_t> row_seq;  // which sequence each row drafts for
  auto clear_rows = [&] {
    row_session.clear();
    hidden.clear();
    tok.clear();
    pos.clear();
    row_seq.clear();
  };
  auto add_row = [&](size_t i, const float* h, int32_t t, int64_t p) {
    row_session.push_back(seqs[i].session);
    hidden.insert(hidden.end(), h, h + D);
    tok.push_back(t);
    pos.push_back(p);
    row_seq.push_back(i);
  };
  // Runs the rows gathered so far in batches the module takes; with `draft`, every row's
  // greedy draft is appended to its sequence and its normed output kept in `out` for chaining.
  auto run_rows = [&](bool draft) {
    const int64_t n = int64_t(tok.size());
    if (draft) {
      out.resize(size_t(n * D));
      logits.resize(size_t(std::min(n, Session::kMaxBatch) * V));
    }
    for (int64_t r0 = 0; r0 < n; r0 += Session::kMaxBatch) {
      const int64_t nr = std::min(Session::kMaxBatch, n - r0);
      mtp_forward_rows(m, 0, row_session.data() + r0, hidden.data() + r0 * D, tok.data() + r0,
                       pos.data() + r0, nr, draft ? out.data() + r0 * D : nullptr,
                       draft ? logits.data() : nullptr, act, pool);
      if (draft)
        for (int64_t r = 0; r < nr; ++r)
          seqs[row_seq[size_t(r0 + r)]].drafts.push_back(argmax(logits.data() + r * V, V));
    }
  };

  // Catching up: the true pairs (h_i, t_{i+1}) the module has not seen, i < P−1 (cache only).
  for (size_t i = 0; i < n_seqs; ++i) {
    Session& s = *seqs[i].session;
    if (!wants(i)) continue;
    const int64_t P = s.n_past();
    const std::vector<float>& hist = s.hidden_history();
    const std::vector<int32_t>& toks = s.tokens();
    for (int64_t p = std::min(s.mtp_past(), P - 1); p < P - 1; ++p)
      add_row(i, hist.data() + p * D, toks[size_t(p + 1)], p);
  }
  if (!tok.empty()) run_rows(false);
  clear_rows();
  // First drafts: the last pair (h_{P−1}, last) of every sequence.
  for (size_t i = 0; i < n_seqs; ++i) {
    Session& s = *seqs[i].session;
    if (!wants(i)) continue;
    const int64_t P = s.n_past();
    add_row(i, s.hidden_history().data() + (P - 1) * D, seqs[i].last, P - 1);
  }
  if (tok.empty()) return;
  run_rows(true);
  for (size_t i = 0; i < n_seqs; ++i)
    if (wants(i)) seqs[i].session->set_mtp_past(seqs[i].session->n_past());
  // Chained drafts: the module on its own output and the newest draft, one position further.
  for (int k = 1;; ++k) {
    const std::vector<float> prev = out;
    const std::vector<size_t> prev_seq = row_seq;
    clear_rows();
    for (size_t r = 0; r < prev_seq.size(); ++r) {
      DraftSeq& d = seqs[prev_seq[r]];
      const int64_t P = d.session->n_past();
      if (k < d.n_draft && P + k < d.session->ctx_size())
        add_row(prev_seq[r], prev.data() + int64_t(r) * D, d.drafts.back(), P - 1 + k);
    }
    if (tok.empty()) return;
    run_rows(true);
  }
}

DraftVerdict verify_drafts(Sampler& sampler, const int32_t* drafts, int64_t k,
                           const std::function<void(int64_t row)>& prepare,
                           const std::function<bool(int32_t token)>& emit) {
  DraftVerdict v;
  for (; v.accepted < k; ++v.accepted) {
    prepare(v.accepted);
    const int32_t d = drafts[v.accepted];
    if (!sampler.accept_draft(d)) {
      v.next = sampler.draw(d);
      return v;
    }
    if (!emit(d)) {
      ++v.accepted;
      v.go_on = false;
      return v;
    }
  }
  prepare(k);
  v.next = sampler.draw();
  return v;
}

}  // namespace ds
