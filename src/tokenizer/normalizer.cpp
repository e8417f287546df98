#include "tokenizer/normalizer.h"

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace ds {
namespace {

struct CccEntry {
  uint32_t cp;
  uint8_t ccc;
};
struct DecompEntry {
  uint32_t cp;
  uint32_t offset;
  uint32_t length;
};
struct CompEntry {
  uint32_t first, second, composed;
};
#include "tokenizer/nfc_tables.inc"

// Hangul syllable arithmetic (Unicode 14.0, section 3.12).
constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount;
constexpr uint32_t kSCount = kLCount * kNCount;

uint8_t ccc_of(uint32_t cp) {
  auto it = std::lower_bound(std::begin(kCcc), std::end(kCcc), cp,
                             [](const CccEntry& e, uint32_t c) { return e.cp < c; });
  return it != std::end(kCcc) && it->cp == cp ? it->ccc : 0;
}

void decompose(uint32_t cp, std::vector<uint32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const uint32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount) out.push_back(kTBase + s % kTCount);
    return;
  }
  auto it = std::lower_bound(std::begin(kDecomp), std::end(kDecomp), cp,
                             [](const DecompEntry& e, uint32_t c) { return e.cp < c; });
  if (it != std::end(kDecomp) && it->cp == cp) {
    out.insert(out.end(), kDecompPool + it->offset, kDecompPool + it->offset + it->length);
  } else {
    out.push_back(cp);
  }
}

// The primary composite of (a, b), or 0.
uint32_t compose(uint32_t a, uint32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount)
    return a + (b - kTBase);
  auto it = std::lower_bound(std::begin(kComp), std::end(kComp), std::pair{a, b},
                             [](const CompEntry& e, std::pair<uint32_t, uint32_t> k) {
                               return e.first != k.first ? e.first < k.first : e.second < k.second;
                             });
  return it != std::end(kComp) && it->first == a && it->second == b ? it->composed : 0;
}

// NFC of a run of well-formed text.
void nfc_run(std::string_view s, std::string& out) {
  std::vector<uint32_t> cps;
  for (size_t i = 0; i < s.size();) {
    size_t len;
    decompose(utf8::decode(s, i, len), cps);
    i += len;
  }
  // Canonical ordering: stable sort of each run of non-starters by combining class.
  for (size_t i = 0; i < cps.size();) {
    if (ccc_of(cps[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < cps.size() && ccc_of(cps[j]) != 0) ++j;
    std::stable_sort(cps.begin() + i, cps.begin() + j,
                     [](uint32_t a, uint32_t b) { return ccc_of(a) < ccc_of(b); });
    i = j;
  }
  // Canonical composition (UAX #15): combine each character with the last starter unless
  // blocked by a character of equal or higher class in between.
  std::vector<uint32_t> res;
  size_t starter = SIZE_MAX;
  int last_ccc = -1;
  for (uint32_t cp : cps) {
    const int c = ccc_of(cp);
    if (starter != SIZE_MAX && (last_ccc < c || (last_ccc == 0 && res.size() == starter + 1))) {
      if (const uint32_t composed = compose(res[starter], cp)) {
        res[starter] = composed;
        continue;
      }
    }
    if (c == 0) starter = res.size();
    last_ccc = c;
    res.push_back(cp);
  }
  for (uint32_t cp : res) utf8::append(out, cp);
}

}  // namespace

std::string nfc(std::string_view text) {
  // Fast path: below U+0300 nothing decomposes into, or composes with, anything else.
  bool simple = true;
  for (unsigned char c : text)
    if (c >= 0xCC) {
      simple = false;
      break;
    }
  if (simple) return std::string(text);
  std::string out;
  out.reserve(text.size());
  size_t run = 0;
  for (size_t i = 0; i < text.size();) {
    const size_t len = utf8::sequence_length(text, i);
    if (len == 0) {  // a malformed byte ends the current run and is kept as it is
      nfc_run(text.substr(run, i - run), out);
      out += text[i];
      run = ++i;
      continue;
    }
    i += len;
  }
  nfc_run(text.substr(run), out);
  return out;
}

Normalizer Normalizer::from_json(const nlohmann::json& j) {
  Normalizer n;
  if (!j.is_null()) n.add_json(j);
  return n;
}

void Normalizer::add_step(Kind kind, std::shared_ptr<const Regex> regex, std::string content) {
  Step s;
  s.kind = kind;
  s.regex = std::move(regex);
  s.content = std::move(content);
  steps_.push_back(std::move(s));
}

void Normalizer::add_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("type"))
    throw Error("normalizer: expected an object with a \"type\"");
  const std::string type = j.at("type").get<std::string>();
  if (type == "Sequence") {
    for (const auto& sub : j.at("normalizers")) add_json(sub);
  } else if (type == "NFC") {
    add_step(Kind::kNfc, nullptr, {});
  } else if (type == "Lowercase") {
    add_step(Kind::kLowercase, nullptr, {});
  } else if (type == "Replace") {
    const auto& pat = j.at("pattern");
    std::string regex = pat.contains("Regex") ? pat.at("Regex").get<std::string>()
                                              : Regex::escape(pat.at("String").get<std::string>());
    add_step(Kind::kReplace, std::make_shared<const Regex>(regex),
             j.at("content").get<std::string>());
  } else if (type == "Prepend") {
    add_step(Kind::kPrepend, nullptr, j.at("prepend").get<std::string>());
  } else if (type == "Strip") {
    add_step(Kind::kStrip, nullptr, {});
    steps_.back().left = j.value("strip_left", true);
    steps_.back().right = j.value("strip_right", true);
  } else {
    throw Error(cat("normalizer: unsupported type '", type, "'"));
  }
}

std::string Normalizer::apply(std::string_view text) const {
  std::string s(text);
  for (const Step& st : steps_) {
    switch (st.kind) {
      case Kind::kNfc:
        s = nfc(s);
        break;
      case Kind::kLowercase:
        // ASCII only; no supported model lowercases non-ASCII text.
        for (char& c : s)
          if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        break;
      case Kind::kReplace: {
        std::string r;
        size_t prev = 0;
        st.regex->for_each_match(s, [&](size_t b, size_t e) {
          r.append(s, prev, b - prev);
          r += st.content;
          prev = e;
        });
        r.append(s, prev, std::string::npos);
        s = std::move(r);
        break;
      }
      case Kind::kPrepend:
        if (!s.empty()) s.insert(0, st.content);
        break;
      case Kind::kStrip: {
        auto is_ws = [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); };
        size_t b = 0, e = s.size();
        if (st.left)
          while (b < e && is_ws(s[b])) ++b;
        if (st.right)
          while (e > b && is_ws(s[e - 1])) --e;
        s = s.substr(b, e - b);
        break;
      }
    }
  }
  return s;
}

}  // namespace ds
