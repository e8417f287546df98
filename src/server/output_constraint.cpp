#include "server/output_constraint.h"

#include <cmath>
#include <limits>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace ds::server {

TokenTable TokenTable::build(const Tokenizer& tok, int64_t vocab) {
  TokenTable t;
  t.bytes.resize(size_t(vocab));
  t.control.assign(size_t(vocab), 0);
  for (int64_t id = 0; id < vocab; ++id) {
    if (id >= tok.vocab_size()) {
      t.control[size_t(id)] = 1;  // padding rows of the embedding: no text
      continue;
    }
    const int32_t i = int32_t(id);
    t.bytes[size_t(id)] = tok.token_bytes(i, false);
    // DeepSeek's added control tokens (<｜…｜>) are not all marked special.
    const std::string_view text = tok.token_text(i);
    const bool deepseek_tag =
        text.size() > 6 && text.substr(0, 4) == "<｜" && text.substr(text.size() - 4) == "｜>";
    if (tok.is_special(i) || deepseek_tag || t.bytes[size_t(id)].empty()) t.control[size_t(id)] = 1;
  }
  return t;
}

OutputConstraint::OutputConstraint(const TokenTable* table, std::vector<Segment> segments)
    : table_(table), segments_(std::move(segments)) {
  skip_finished();
}

void OutputConstraint::skip_finished() {
  while (seg_ < segments_.size()) {
    const Segment& s = segments_[seg_];
    const bool empty = (s.kind == Segment::Kind::kForced && pos_ >= s.forced.size()) ||
                       (s.kind == Segment::Kind::kChoice && s.choices.empty());
    if (!empty) return;
    ++seg_;
    pos_ = 0;
  }
}

std::optional<int32_t> OutputConstraint::forced() const {
  if (!active()) return std::nullopt;
  const Segment& s = segments_[seg_];
  if (s.kind != Segment::Kind::kForced) return std::nullopt;
  return s.forced[pos_];
}

bool OutputConstraint::allowed(int32_t token, int64_t budget) const {
  if (table_->control[size_t(token)]) return false;
  const std::string& b = table_->bytes[size_t(token)];
  const Segment& s = segments_[seg_];
  if (s.kind == Segment::Kind::kChoice) {
    const std::string next = sofar_ + b;
    for (const auto& c : s.choices)
      if (c.size() >= next.size() && c.compare(0, next.size(), next) == 0) return true;
    return false;
  }
  JsonState j = json_;
  if (!j.feed(b)) return false;
  // Every later token can close at least one byte, so the rest must fit what is left.
  return j.min_remaining() <= budget - 1;
}

int64_t OutputConstraint::mask(float* logits, int64_t vocab, int64_t budget) const {
  if (!active()) return vocab;
  DS_CHECK(table_ && int64_t(table_->bytes.size()) >= vocab, "token table too small");
  const float kOff = -std::numeric_limits<float>::infinity();
  if (auto f = forced()) {
    for (int64_t i = 0; i < vocab; ++i)
      if (i != *f) logits[i] = kOff;
    return 1;
  }
  // Tokens that later forced segments will need come off the budget.
  for (size_t k = seg_ + 1; k < segments_.size(); ++k)
    if (segments_[k].kind == Segment::Kind::kForced) budget -= int64_t(segments_[k].forced.size());
  int64_t n = 0;
  for (int64_t i = 0; i < vocab; ++i) {
    if (logits[i] == kOff) continue;
    if (allowed(int32_t(i), budget))
      ++n;
    else
      logits[i] = kOff;
  }
  return n;
}

void OutputConstraint::accept(int32_t token) {
  if (!active()) return;
  Segment& s = segments_[seg_];
  switch (s.kind) {
    case Segment::Kind::kForced:
      ++pos_;
      break;
    case Segment::Kind::kChoice: {
      sofar_ += table_->bytes[size_t(token)];
      for (const auto& c : s.choices)
        if (c == sofar_) {
          ++seg_;
          sofar_.clear();
          break;
        }
      break;
    }
    case Segment::Kind::kJson:
      json_.feed(table_->bytes[size_t(token)]);
      if (json_.done()) {
        ++seg_;
        json_ = JsonState();
      }
      break;
  }
  skip_finished();
}

}  // namespace ds::server
