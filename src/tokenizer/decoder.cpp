#include "tokenizer/decoder.h"

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace ds {

int parse_byte_token(std::string_view s) {
  if (s.size() != 6 || s.compare(0, 3, "<0x") != 0 || s[5] != '>') return -1;
  int v = 0;
  for (size_t i = 3; i < 5; ++i) {
    const char h = s[i];
    v <<= 4;
    if (h >= '0' && h <= '9')
      v |= h - '0';
    else if (h >= 'a' && h <= 'f')
      v |= h - 'a' + 10;
    else if (h >= 'A' && h <= 'F')
      v |= h - 'A' + 10;
    else
      return -1;
  }
  return v;
}

Decoder Decoder::from_json(const nlohmann::json& j) {
  Decoder d;
  if (!j.is_null()) d.add_json(j);
  return d;
}

Decoder::Step& Decoder::add_step(Kind kind, std::string from, std::string to) {
  Step s;
  s.kind = kind;
  s.from = std::move(from);
  s.to = std::move(to);
  steps_.push_back(std::move(s));
  return steps_.back();
}

void Decoder::add_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("type"))
    throw Error("decoder: expected an object with a \"type\"");
  const std::string type = j.at("type").get<std::string>();
  if (type == "Sequence") {
    for (const auto& sub : j.at("decoders")) add_json(sub);
  } else if (type == "ByteLevel" || type == "Fuse") {
    // ByteLevel: tokens already map to bytes; Fuse: joining is what decoding does anyway.
  } else if (type == "Replace") {
    const auto& pat = j.at("pattern");
    if (!pat.contains("String")) throw Error("decoder Replace: only String patterns are supported");
    add_step(Kind::kReplace, pat.at("String").get<std::string>(),
             j.at("content").get<std::string>());
  } else if (type == "ByteFallback") {
    add_step(Kind::kByteFallback, {}, {});
  } else if (type == "Strip") {
    Step& s = add_step(Kind::kStrip, j.at("content").get<std::string>(), {});
    s.start = j.value("start", 0);
    s.stop = j.value("stop", 0);
  } else if (type == "Metaspace") {
    Step& s = add_step(Kind::kMetaspace, j.value("replacement", std::string("\xE2\x96\x81")), " ");
    const std::string scheme = j.value("prepend_scheme", std::string());
    s.strip_first = scheme.empty() ? j.value("add_prefix_space", true) : scheme != "never";
  } else {
    throw Error(cat("decoder: unsupported type '", type, "'"));
  }
}

std::string Decoder::apply(std::string_view token, bool first) const {
  std::string s(token);
  for (const Step& st : steps_) {
    switch (st.kind) {
      case Kind::kReplace:
      case Kind::kMetaspace: {
        std::string r;
        for (size_t i = 0; i < s.size();) {
          if (!st.from.empty() && s.compare(i, st.from.size(), st.from) == 0) {
            r += st.to;
            i += st.from.size();
          } else {
            r += s[i++];
          }
        }
        if (st.kind == Kind::kMetaspace && first && st.strip_first && !r.empty() && r[0] == ' ')
          r.erase(0, 1);
        s = std::move(r);
        break;
      }
      case Kind::kByteFallback:
        if (const int b = parse_byte_token(s); b >= 0) s = std::string(1, static_cast<char>(b));
        break;
      case Kind::kStrip:
        // Applied after Fuse in the files that use it, i.e. to the start of the whole text.
        if (first) {
          int n = st.start;
          while (n-- > 0 && s.compare(0, st.from.size(), st.from) == 0) s.erase(0, st.from.size());
        }
        break;
    }
  }
  return s;
}

}  // namespace ds
