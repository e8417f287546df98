#include "tokenizer/pre_tokenizer.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace ds {

const char* const kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

namespace {

// The split patterns llama.cpp associates with each `tokenizer.ggml.pre` name; they are
// copied from the tokenizer.json files of those models.
constexpr const char* kDeepSeekV3Patterns[] = {
    R"(\p{N}{1,3})",
    R"([一-龥぀-ゟ゠-ヿ]+)",
    "[!\"#$%&'()*+,\\-./"
    ":;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|"
    " ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
};
// Characters whose NFC form differs (U+1F7D, U+1FBE, U+1FD3, U+1FDB, U+2126, U+212A) are
// written as \x{...} so that no editor or tool can normalize them away.
// clang-format off
constexpr const char* kDeepSeekLlmPatterns[] = {
    "[\r\n]",
    "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-"
    "ὅὈ-Ὅὐ-ὗὙὛὝ\\x{1F5F}-\\x{1F7D}ᾀ-ᾴᾶ-ᾼ\\x{1FBE}ῂ-ῄῆ-ῌ\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}ῠ-Ῥῲ-ῴῶ-ῼ"
    "ℂℇℊ-ℓℕℙ-ℝℤ\\x{2126}ℨ\\x{212A}-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯ"
    "ꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
    "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
    "\\s+$",
    "[一-龥ࠀ-一가-퟿]+",
    "\\p{N}+",
};
// clang-format on
constexpr const char* kDeepSeekCoderPatterns[] = {
    "[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}",
};
constexpr const char* kLlama3Patterns[] = {
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
};
constexpr const char* kQwen2Patterns[] = {
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
};

SplitBehavior parse_behavior(const std::string& s) {
  if (s == "Removed") return SplitBehavior::kRemoved;
  if (s == "Isolated") return SplitBehavior::kIsolated;
  if (s == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (s == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (s == "Contiguous") return SplitBehavior::kContiguous;
  throw Error(cat("pre_tokenizer Split: unknown behavior '", s, "'"));
}

template <typename T>
T field_or(const nlohmann::json& j, const char* key, T fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  return it->get<T>();
}

}  // namespace

PreTokenizer PreTokenizer::from_json(const nlohmann::json& j) {
  PreTokenizer p;
  if (!j.is_null()) p.add_json(j);
  return p;
}

PreTokenizer PreTokenizer::from_name(std::string_view name) {
  PreTokenizer p;
  auto add_all = [&p](const auto& patterns) {
    for (const char* pat : patterns) p.add_split(pat, SplitBehavior::kIsolated, false);
    p.add_byte_level(false, false);
  };
  if (name == "deepseek-v3" || name == "deepseek3-llm") {
    add_all(kDeepSeekV3Patterns);
  } else if (name == "deepseek-llm") {
    add_all(kDeepSeekLlmPatterns);
  } else if (name == "deepseek-coder") {
    add_all(kDeepSeekCoderPatterns);
  } else if (name == "llama-bpe" || name == "llama3" || name == "llama-v3") {
    add_all(kLlama3Patterns);
  } else if (name == "qwen2") {
    add_all(kQwen2Patterns);
  } else if (name == "gpt-2" || name == "gpt2" || name == "default") {
    p.add_byte_level(false, true);
  } else {
    throw Error(cat("unknown pre-tokenizer name '", name,
                    "' (known: deepseek-v3, deepseek-llm, deepseek-coder, qwen2, llama-bpe, "
                    "gpt-2)"));
  }
  return p;
}

void PreTokenizer::add_split(std::string_view pattern, SplitBehavior behavior, bool invert) {
  Step s;
  s.kind = Kind::kSplit;
  s.regex = std::make_shared<const Regex>(pattern);
  s.behavior = behavior;
  s.invert = invert;
  steps_.push_back(std::move(s));
}

void PreTokenizer::add_byte_level(bool add_prefix_space, bool use_regex) {
  if (add_prefix_space) {
    Step s;
    s.kind = Kind::kPrefixSpace;
    steps_.push_back(std::move(s));
  }
  if (use_regex) add_split(kGpt2Pattern, SplitBehavior::kIsolated, false);
  byte_level_ = true;
}

void PreTokenizer::add_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("type"))
    throw Error("pre_tokenizer: expected an object with a \"type\"");
  const std::string type = j.at("type").get<std::string>();
  if (type == "Sequence") {
    for (const auto& sub : j.at("pretokenizers")) add_json(sub);
  } else if (type == "Split") {
    const auto& pat = j.at("pattern");
    std::string regex;
    if (pat.contains("Regex")) {
      regex = pat.at("Regex").get<std::string>();
    } else if (pat.contains("String")) {
      regex = Regex::escape(pat.at("String").get<std::string>());
    } else {
      throw Error("pre_tokenizer Split: pattern must hold \"Regex\" or \"String\"");
    }
    add_split(regex, parse_behavior(j.at("behavior").get<std::string>()),
              field_or<bool>(j, "invert", false));
  } else if (type == "ByteLevel") {
    add_byte_level(field_or<bool>(j, "add_prefix_space", true),
                   field_or<bool>(j, "use_regex", true));
  } else if (type == "Digits") {
    // Rust's char::is_numeric is the Unicode N categories.
    add_split(field_or<bool>(j, "individual_digits", false) ? "\\p{N}" : "\\p{N}+",
              SplitBehavior::kIsolated, false);
  } else if (type == "Whitespace") {
    add_split("\\w+|[^\\w\\s]+", SplitBehavior::kRemoved, true);
  } else if (type == "WhitespaceSplit") {
    add_split("\\s+", SplitBehavior::kRemoved, false);
  } else if (type == "Punctuation") {
    add_split("\\p{P}", parse_behavior(field_or<std::string>(j, "behavior", "Isolated")), false);
  } else if (type == "Metaspace") {
    Step s;
    s.kind = Kind::kMetaspace;
    s.replacement = field_or<std::string>(j, "replacement", "\xE2\x96\x81");
    s.prepend_scheme = field_or<std::string>(j, "prepend_scheme", "");
    if (s.prepend_scheme.empty())
      s.prepend_scheme = field_or<bool>(j, "add_prefix_space", true) ? "always" : "never";
    s.metaspace_split = field_or<bool>(j, "split", true);
    steps_.push_back(std::move(s));
  } else {
    throw Error(cat("pre_tokenizer: unsupported type '", type, "'"));
  }
}

void PreTokenizer::apply_split(const Step& s, const std::string& buf, const std::vector<Span>& in,
                               std::vector<Span>& out) {
  // Mirrors tokenizers' NormalizedString::split: cut each piece into (range, is_match)
  // segments, flip them when inverted, then merge as the behaviour says.
  struct Seg {
    uint32_t b, e;
    bool m;
  };
  std::vector<Seg> segs;
  for (const Span& piece : in) {
    const std::string_view sub(buf.data() + piece.begin, piece.end - piece.begin);
    if (s.behavior == SplitBehavior::kIsolated) {
      // The common case, without the segment list: every match and every gap is a piece.
      uint32_t prev = piece.begin;
      s.regex->for_each_match(sub, [&](size_t b, size_t e) {
        const uint32_t ab = piece.begin + static_cast<uint32_t>(b);
        if (ab > prev) out.push_back({prev, ab});
        out.push_back({ab, piece.begin + static_cast<uint32_t>(e)});
        prev = piece.begin + static_cast<uint32_t>(e);
      });
      if (piece.end > prev) out.push_back({prev, piece.end});
      continue;
    }
    segs.clear();
    uint32_t prev = piece.begin;
    s.regex->for_each_match(sub, [&](size_t b, size_t e) {
      const uint32_t ab = piece.begin + static_cast<uint32_t>(b);
      if (ab > prev) segs.push_back({prev, ab, false});
      segs.push_back({ab, piece.begin + static_cast<uint32_t>(e), true});
      prev = piece.begin + static_cast<uint32_t>(e);
    });
    if (piece.end > prev) segs.push_back({prev, piece.end, false});
    if (s.invert)
      for (auto& g : segs) g.m = !g.m;
    std::vector<Span> res;
    bool previous_match = false;
    switch (s.behavior) {
      case SplitBehavior::kIsolated:
        for (auto& g : segs) res.push_back({g.b, g.e});
        break;
      case SplitBehavior::kRemoved:
        for (auto& g : segs)
          if (!g.m) res.push_back({g.b, g.e});
        break;
      case SplitBehavior::kMergedWithPrevious:
        for (auto& g : segs) {
          if (g.m && !previous_match && !res.empty())
            res.back().end = g.e;
          else
            res.push_back({g.b, g.e});
          previous_match = g.m;
        }
        break;
      case SplitBehavior::kMergedWithNext:
        for (auto it = segs.rbegin(); it != segs.rend(); ++it) {
          if (it->m && !previous_match && !res.empty())
            res.back().begin = it->b;
          else
            res.push_back({it->b, it->e});
          previous_match = it->m;
        }
        std::reverse(res.begin(), res.end());
        break;
      case SplitBehavior::kContiguous:
        for (auto& g : segs) {
          if (g.m == previous_match && !res.empty())
            res.back().end = g.e;
          else
            res.push_back({g.b, g.e});
          previous_match = g.m;
        }
        break;
    }
    out.insert(out.end(), res.begin(), res.end());
  }
}

void PreTokenizer::split(std::string& buf, std::vector<Span>& pieces) const {
  pieces.clear();
  if (buf.empty()) return;
  pieces.push_back({0, static_cast<uint32_t>(buf.size())});
  std::vector<Span> next;
  for (const Step& s : steps_) {
    next.clear();
    if (s.kind == Kind::kSplit) {
      apply_split(s, buf, pieces, next);
    } else {
      // Steps that rewrite text build a new buffer piece by piece.
      std::string nb;
      nb.reserve(buf.size() + pieces.size() * 3);
      for (size_t i = 0; i < pieces.size(); ++i) {
        std::string_view p(buf.data() + pieces[i].begin, pieces[i].end - pieces[i].begin);
        const auto start = static_cast<uint32_t>(nb.size());
        if (s.kind == Kind::kPrefixSpace) {
          if (p.empty() || p[0] != ' ') nb += ' ';
          nb += p;
          next.push_back({start, static_cast<uint32_t>(nb.size())});
          continue;
        }
        // Metaspace: spaces become the replacement; optionally prepend it; split before it.
        const bool prepend =
            s.prepend_scheme == "always" || (s.prepend_scheme == "first" && i == 0);
        std::string t;
        for (char c : p) {
          if (c == ' ')
            t += s.replacement;
          else
            t += c;
        }
        if (prepend && t.compare(0, s.replacement.size(), s.replacement) != 0)
          t.insert(0, s.replacement);
        if (!s.metaspace_split) {
          nb += t;
          next.push_back({start, static_cast<uint32_t>(nb.size())});
          continue;
        }
        size_t pos = 0;
        while (pos < t.size()) {
          size_t q = t.find(s.replacement, pos + 1);
          if (q == std::string::npos) q = t.size();
          const auto b = static_cast<uint32_t>(nb.size());
          nb.append(t, pos, q - pos);
          next.push_back({b, static_cast<uint32_t>(nb.size())});
          pos = q;
        }
      }
      buf = std::move(nb);
    }
    pieces.swap(next);
  }
}

}  // namespace ds
