#include "tokenizer/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/error.h"

namespace ds {
namespace {

// The Unicode White_Space property (PropList.txt), which is what Oniguruma's \s matches.
constexpr const char* kWhiteSpaceRanges =
    "\\x{9}-\\x{D}\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}"
    "\\x{202F}\\x{205F}\\x{3000}";
// Its complement over all code points.
constexpr const char* kNotWhiteSpaceRanges =
    "\\x{0}-\\x{8}\\x{E}-\\x{1F}\\x{21}-\\x{84}\\x{86}-\\x{9F}\\x{A1}-\\x{167F}"
    "\\x{1681}-\\x{1FFF}\\x{200B}-\\x{2027}\\x{202A}-\\x{202E}\\x{2030}-\\x{205E}"
    "\\x{2060}-\\x{2FFF}\\x{3001}-\\x{10FFFF}";

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  pcre2_get_error_message(code, buf, sizeof(buf));
  return reinterpret_cast<const char*>(buf);
}

// Per-thread scratch for matching: match data and a JIT stack big enough for long runs.
struct MatchScratch {
  pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
  pcre2_match_context* context = pcre2_match_context_create(nullptr);
  pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, nullptr);
  MatchScratch() { pcre2_jit_stack_assign(context, nullptr, stack); }
  ~MatchScratch() {
    pcre2_jit_stack_free(stack);
    pcre2_match_context_free(context);
    pcre2_match_data_free(data);
  }
};

MatchScratch& scratch() {
  thread_local MatchScratch s;
  return s;
}

}  // namespace

struct Regex::Impl {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Impl() { pcre2_code_free(code); }
};

std::string Regex::translate(std::string_view p) {
  std::string out;
  out.reserve(p.size() + 64);
  int class_depth = 0;  // inside [...]: POSIX-style nested classes are not used by tokenizers
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char e = p[i + 1];
      ++i;
      if (e == 's' || e == 'S') {
        const char* ranges = e == 's' ? kWhiteSpaceRanges : kNotWhiteSpaceRanges;
        if (class_depth > 0) {
          out += ranges;
        } else {
          out += '[';
          out += ranges;
          out += ']';
        }
      } else if (e == 'h' || e == 'H') {
        // Oniguruma: \h is a hexadecimal digit (PCRE2: horizontal space).
        if (class_depth > 0) {
          if (e == 'H') throw Error(cat("regex '", p, "': \\H inside a class is not supported"));
          out += "0-9a-fA-F";
        } else {
          out += e == 'h' ? "[0-9a-fA-F]" : "[^0-9a-fA-F]";
        }
      } else {
        out += '\\';
        out += e;
      }
      continue;
    }
    if (c == '[') {
      ++class_depth;
      out += c;
      // A ']' right after '[' or '[^' is a literal in both engines.
      if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
      if (i + 1 < p.size() && p[i + 1] == ']') {
        out += "\\]";
        ++i;
      }
      continue;
    }
    if (c == ']' && class_depth > 0) --class_depth;
    out += c;
  }
  return out;
}

std::string Regex::escape(std::string_view literal) {
  std::string out;
  for (char c : literal) {
    if (std::string_view("\\^$.|?*+()[]{}-/#&~ ").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

Regex::Regex(std::string_view pattern) : pattern_(pattern), impl_(std::make_unique<Impl>()) {
  const std::string src = translate(pattern);
  int err = 0;
  PCRE2_SIZE err_off = 0;
  impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(src.data()), src.size(),
                              PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_MULTILINE,
                              &err, &err_off, nullptr);
  if (impl_->code == nullptr)
    throw Error(cat("invalid regex '", pattern, "': ", pcre2_message(err), " (at offset ", err_off,
                    " of the translated pattern '", src, "')"));
  impl_->jit = pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() = default;
Regex::Regex(Regex&&) noexcept = default;
Regex& Regex::operator=(Regex&&) noexcept = default;

void Regex::for_each_match(std::string_view subject,
                           const std::function<void(size_t, size_t)>& on_match) const {
  MatchScratch& s = scratch();
  const auto* subj = reinterpret_cast<PCRE2_SPTR>(subject.data());
  PCRE2_SIZE pos = 0;
  while (pos <= subject.size()) {
    const int rc =
        impl_->jit ? pcre2_jit_match(impl_->code, subj, subject.size(), pos, 0, s.data, s.context)
                   : pcre2_match(impl_->code, subj, subject.size(), pos, 0, s.data, s.context);
    if (rc == PCRE2_ERROR_NOMATCH) return;
    if (rc < 0) throw Error(cat("regex '", pattern_, "': matching failed: ", pcre2_message(rc)));
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(s.data);
    const size_t b = ov[0], e = ov[1];
    if (e > b) {
      on_match(b, e);
      pos = e;
    } else {
      // An empty match: step one character (or one invalid byte) forward.
      size_t step = 1;
      while (b + step < subject.size() && (static_cast<uint8_t>(subject[b + step]) & 0xC0) == 0x80)
        ++step;
      pos = b + step;
    }
  }
}

}  // namespace ds
