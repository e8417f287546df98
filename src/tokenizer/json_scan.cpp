#include "tokenizer/json_scan.h"

#include <cstdint>

#include "tokenizer/utf8.h"

namespace ds {
namespace {

// A cursor over JSON text; every method returns false on anything unexpected.
class Scanner {
 public:
  explicit Scanner(std::string_view s) : s_(s) {}
  size_t pos() const { return p_; }

  void ws() {
    while (p_ < s_.size() && (s_[p_] == ' ' || s_[p_] == '\n' || s_[p_] == '\r' || s_[p_] == '\t'))
      ++p_;
  }
  bool eat(char c) {
    ws();
    if (p_ < s_.size() && s_[p_] == c) {
      ++p_;
      return true;
    }
    return false;
  }
  bool peek(char c) {
    ws();
    return p_ < s_.size() && s_[p_] == c;
  }

  bool string(std::string& out) {
    out.clear();
    if (!eat('"')) return false;
    while (p_ < s_.size()) {
      // Copy the run up to the next quote or backslash in one go.
      size_t q = p_;
      while (q < s_.size() && s_[q] != '"' && s_[q] != '\\') ++q;
      out.append(s_.data() + p_, q - p_);
      p_ = q;
      if (p_ >= s_.size()) return false;
      if (s_[p_] == '"') {
        ++p_;
        return true;
      }
      if (++p_ >= s_.size()) return false;
      const char e = s_[p_++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          uint32_t cp;
          if (!hex4(cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo;
            if (p_ + 1 >= s_.size() || s_[p_] != '\\' || s_[p_ + 1] != 'u') return false;
            p_ += 2;
            if (!hex4(lo) || lo < 0xDC00 || lo > 0xDFFF) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return false;
          }
          utf8::append(out, cp);
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }

  bool integer(int64_t& v) {
    ws();
    size_t q = p_;
    bool neg = false;
    if (q < s_.size() && s_[q] == '-') {
      neg = true;
      ++q;
    }
    if (q >= s_.size() || s_[q] < '0' || s_[q] > '9') return false;
    v = 0;
    while (q < s_.size() && s_[q] >= '0' && s_[q] <= '9') {
      v = v * 10 + (s_[q] - '0');
      if (v > (int64_t{1} << 40)) return false;
      ++q;
    }
    if (q < s_.size() && (s_[q] == '.' || s_[q] == 'e' || s_[q] == 'E')) return false;
    p_ = q;
    if (neg) v = -v;
    return true;
  }

  // Skips any value (structure only; strings are skipped escape-aware).
  bool skip_value(int depth = 0) {
    if (depth > 256) return false;
    ws();
    if (p_ >= s_.size()) return false;
    const char c = s_[p_];
    if (c == '"') {
      ++p_;
      while (p_ < s_.size() && s_[p_] != '"') p_ += s_[p_] == '\\' ? 2 : 1;
      if (p_ >= s_.size()) return false;
      ++p_;
      return true;
    }
    if (c == '{' || c == '[') {
      ++p_;
      const char close = c == '{' ? '}' : ']';
      if (eat(close)) return true;
      while (true) {
        if (c == '{') {
          if (!skip_value(depth + 1) || !eat(':')) return false;
        }
        if (!skip_value(depth + 1)) return false;
        if (eat(close)) return true;
        if (!eat(',')) return false;
      }
    }
    // Scalars: run to the next delimiter.
    while (p_ < s_.size() && s_[p_] != ',' && s_[p_] != '}' && s_[p_] != ']' && s_[p_] != ' ' &&
           s_[p_] != '\n' && s_[p_] != '\r' && s_[p_] != '\t')
      ++p_;
    return true;
  }

 private:
  bool hex4(uint32_t& v) {
    if (p_ + 4 > s_.size()) return false;
    v = 0;
    for (int k = 0; k < 4; ++k) {
      const char h = s_[p_++];
      v <<= 4;
      if (h >= '0' && h <= '9')
        v |= h - '0';
      else if (h >= 'a' && h <= 'f')
        v |= h - 'a' + 10;
      else if (h >= 'A' && h <= 'F')
        v |= h - 'A' + 10;
      else
        return false;
    }
    return true;
  }

  std::string_view s_;
  size_t p_ = 0;
};

bool scan_vocab(Scanner& sc, std::vector<std::string>& vocab) {
  if (!sc.eat('{')) return false;
  if (sc.eat('}')) return true;
  std::string key;
  vocab.reserve(1 << 17);
  while (true) {
    int64_t id;
    if (!sc.string(key) || !sc.eat(':') || !sc.integer(id)) return false;
    if (id < 0 || id > (1 << 24)) return false;
    if (static_cast<size_t>(id) >= vocab.size()) vocab.resize(id + 1);
    if (!vocab[id].empty()) return false;  // duplicate id: let the full parser complain
    vocab[id] = key;
    if (sc.eat('}')) return true;
    if (!sc.eat(',')) return false;
  }
}

bool scan_merges(Scanner& sc, std::vector<std::pair<std::string, std::string>>& merges) {
  if (!sc.eat('[')) return false;
  if (sc.eat(']')) return true;
  merges.reserve(1 << 17);
  std::string a, b;
  while (true) {
    if (sc.peek('[')) {
      sc.eat('[');
      if (!sc.string(a) || !sc.eat(',') || !sc.string(b) || !sc.eat(']')) return false;
      merges.emplace_back(a, b);
    } else {
      if (!sc.string(a)) return false;
      const size_t sp = a.find(' ', 1);
      if (sp == std::string::npos) return false;
      merges.emplace_back(a.substr(0, sp), a.substr(sp + 1));
    }
    if (sc.eat(']')) return true;
    if (!sc.eat(',')) return false;
  }
}

}  // namespace

bool scan_bpe_model(std::string_view text, ScannedModel& out) {
  Scanner sc(text);
  std::string key;
  size_t vocab_b = 0, vocab_e = 0, merges_b = 0, merges_e = 0;
  bool have_vocab = false, have_merges = false;
  if (!sc.eat('{')) return false;
  if (sc.eat('}')) return false;
  while (true) {
    if (!sc.string(key) || !sc.eat(':')) return false;
    if (key == "model" && sc.peek('{')) {
      sc.eat('{');
      if (!sc.eat('}')) {
        while (true) {
          if (!sc.string(key) || !sc.eat(':')) return false;
          sc.ws();
          const size_t b = sc.pos();
          if (key == "vocab" && !have_vocab) {
            if (!scan_vocab(sc, out.vocab)) return false;
            vocab_b = b;
            vocab_e = sc.pos();
            have_vocab = true;
          } else if (key == "merges" && !have_merges) {
            if (!scan_merges(sc, out.merges)) return false;
            merges_b = b;
            merges_e = sc.pos();
            have_merges = true;
          } else if (!sc.skip_value()) {
            return false;
          }
          if (sc.eat('}')) break;
          if (!sc.eat(',')) return false;
        }
      }
    } else if (!sc.skip_value()) {
      return false;
    }
    if (sc.eat('}')) break;
    if (!sc.eat(',')) return false;
  }
  sc.ws();
  if (sc.pos() != text.size() || !have_vocab || !have_merges) return false;
  // The rest of the file, with the two big values emptied.
  const bool vocab_first = vocab_b < merges_b;
  const size_t b1 = vocab_first ? vocab_b : merges_b, e1 = vocab_first ? vocab_e : merges_e;
  const size_t b2 = vocab_first ? merges_b : vocab_b, e2 = vocab_first ? merges_e : vocab_e;
  out.rest.clear();
  out.rest.append(text.substr(0, b1));
  out.rest += vocab_first ? "{}" : "[]";
  out.rest.append(text.substr(e1, b2 - e1));
  out.rest += vocab_first ? "[]" : "{}";
  out.rest.append(text.substr(e2));
  return true;
}

}  // namespace ds
