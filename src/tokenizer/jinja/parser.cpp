// Lexer and recursive-descent parser for the Jinja subset (grammar as in jinja2/parser.py).
#include <cstring>

#include "core/error.h"
#include "tokenizer/jinja/ast.h"
#include "tokenizer/utf8.h"

namespace ds::jinja {
namespace {

constexpr int kMaxNesting = 200;  // nested blocks or expressions; deeper input is rejected

struct Token {
  enum class Type {
    kText,
    kVarBegin,
    kVarEnd,
    kBlockBegin,
    kBlockEnd,
    kName,
    kString,
    kInt,
    kFloat,
    kOp,
    kEof
  };
  Type type;
  std::string value;
  int line;
};

[[noreturn]] void fail(int line, const std::string& msg) {
  throw Error(cat("chat template line ", line, ": ", msg));
}

bool is_py_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// Jinja joins source.splitlines() with "\n": every Python line boundary becomes "\n", and
// without keep_trailing_newline the final one is dropped.
std::string normalize_newlines(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    if (c == '\r')
      len = (i + 1 < s.size() && s[i + 1] == '\n') ? 2 : 1;
    else if (c == '\n' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E)
      len = 1;
    else if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x85)
      len = 2;
    else if (c == 0xE2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
             (static_cast<unsigned char>(s[i + 2]) == 0xA8 ||
              static_cast<unsigned char>(s[i + 2]) == 0xA9))
      len = 3;
    if (len) {
      out += '\n';
      i += len;
    } else {
      out += s[i++];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// Python's unicode-escape decoding of a string literal's body.
std::string unescape(std::string_view s, int line) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    const char e = s[++i];
    auto hex = [&](size_t n) -> uint32_t {
      uint32_t v = 0;
      for (size_t k = 1; k <= n; ++k) {
        if (i + k >= s.size()) fail(line, "truncated escape in string");
        const char h = s[i + k];
        v <<= 4;
        if (h >= '0' && h <= '9')
          v |= h - '0';
        else if (h >= 'a' && h <= 'f')
          v |= h - 'a' + 10;
        else if (h >= 'A' && h <= 'F')
          v |= h - 'A' + 10;
        else
          fail(line, "bad escape in string");
      }
      i += n;
      return v;
    };
    switch (e) {
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      case '\\':
        out += '\\';
        break;
      case '\'':
        out += '\'';
        break;
      case '"':
        out += '"';
        break;
      case 'a':
        out += '\a';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'v':
        out += '\v';
        break;
      case '\n':
        break;
      case 'x':
        utf8::append(out, hex(2));
        break;
      case 'u':
        utf8::append(out, hex(4));
        break;
      case 'U': {
        const uint32_t cp = hex(8);
        if (cp > 0x10FFFF) fail(line, "bad \\U escape in string");
        utf8::append(out, cp);
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          uint32_t v = e - '0';
          for (int k = 0; k < 2 && i + 1 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '7'; ++k)
            v = v * 8 + (s[++i] - '0');
          utf8::append(out, v);
        } else {
          out += '\\';
          out += e;
        }
    }
  }
  return out;
}

class Lexer {
 public:
  explicit Lexer(const std::string& src) : src_(normalize_newlines(src)) {}

  std::vector<Token> run() {
    bool line_starting = true;
    while (pos_ < src_.size()) {
      // Find the next tag opener.
      size_t open = pos_;
      char kind = 0;
      while (true) {
        open = src_.find('{', open);
        if (open == std::string::npos || open + 1 >= src_.size()) {
          open = std::string::npos;
          break;
        }
        const char n = src_[open + 1];
        if (n == '{' || n == '%' || n == '#') {
          kind = n;
          break;
        }
        ++open;
      }
      std::string text =
          src_.substr(pos_, open == std::string::npos ? std::string::npos : open - pos_);
      if (open == std::string::npos) {
        emit_text(text);
        break;
      }
      const char sign = open + 2 < src_.size() ? src_[open + 2] : 0;
      if (sign == '-') {
        size_t e = text.size();
        while (e > 0 && is_py_space(text[e - 1])) --e;
        count_lines(std::string_view(text).substr(e));
        text.resize(e);
      } else if (sign != '+' && kind != '{') {
        // lstrip_blocks: drop spaces between the start of the line and a block tag.
        const size_t nl = text.rfind('\n');
        const size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
        if (l_pos > 0 || line_starting) {
          bool all_ws = l_pos < text.size();
          for (size_t k = l_pos; k < text.size(); ++k)
            if (!is_py_space(text[k])) all_ws = false;
          if (all_ws) text.resize(l_pos);
        }
      }
      emit_text(text);
      pos_ = open + 2 + ((sign == '-' || sign == '+') ? 1 : 0);
      if (kind == '#') {
        const size_t close = src_.find("#}", pos_);
        if (close == std::string::npos) fail(line_, "unclosed comment");
        const bool strip = close > 0 && src_[close - 1] == '-';
        count_lines(std::string_view(src_).substr(pos_, close + 2 - pos_));
        pos_ = close + 2;
        line_starting = after_block_end(strip, false);
        continue;
      }
      const bool is_block = kind == '%';
      tokens_.push_back({is_block ? Token::Type::kBlockBegin : Token::Type::kVarBegin, "", line_});
      if (is_block && raw_block()) {
        line_starting = false;
        continue;
      }
      line_starting = lex_tag(is_block);
    }
    tokens_.push_back({Token::Type::kEof, "", line_});
    return std::move(tokens_);
  }

 private:
  void count_lines(std::string_view s) {
    for (char c : s) line_ += c == '\n';
  }
  void emit_text(const std::string& t) {
    if (!t.empty()) tokens_.push_back({Token::Type::kText, t, line_});
    count_lines(t);
  }

  // After a closer: strip whitespace for "-", or one newline (trim_blocks). Returns whether
  // the consumed text ended with a newline.
  bool after_block_end(bool strip, bool plus) {
    const size_t start = pos_;
    if (strip) {
      while (pos_ < src_.size() && is_py_space(src_[pos_])) ++pos_;
    } else if (!plus && pos_ < src_.size() && src_[pos_] == '\n') {
      ++pos_;
    }
    count_lines(std::string_view(src_).substr(start, pos_ - start));
    return pos_ > start ? src_[pos_ - 1] == '\n' : false;
  }

  // {% raw %} ... {% endraw %}: the body is text.
  bool raw_block() {
    size_t p = pos_;
    while (p < src_.size() && is_py_space(src_[p])) ++p;
    if (src_.compare(p, 3, "raw") != 0) return false;
    p += 3;
    while (p < src_.size() && is_py_space(src_[p])) ++p;
    const bool strip_after = src_.compare(p, 1, "-") == 0;
    if (strip_after) ++p;
    if (src_.compare(p, 2, "%}") != 0) return false;
    tokens_.pop_back();  // the block begin
    p += 2;
    size_t q = p;
    while (true) {
      q = src_.find("{%", q);
      if (q == std::string::npos) fail(line_, "unclosed raw block");
      size_t r = q + 2;
      const bool strip_before = r < src_.size() && src_[r] == '-';
      if (strip_before || (r < src_.size() && src_[r] == '+')) ++r;
      while (r < src_.size() && is_py_space(src_[r])) ++r;
      if (src_.compare(r, 6, "endraw") == 0) {
        std::string body = src_.substr(p, q - p);
        if (strip_after)
          while (!body.empty() && is_py_space(body.front())) body.erase(0, 1);
        if (strip_before)
          while (!body.empty() && is_py_space(body.back())) body.pop_back();
        emit_text(body);
        r += 6;
        while (r < src_.size() && is_py_space(src_[r])) ++r;
        const bool strip = src_.compare(r, 1, "-") == 0;
        if (strip) ++r;
        if (src_.compare(r, 2, "%}") != 0) fail(line_, "bad endraw tag");
        pos_ = r + 2;
        after_block_end(strip, false);
        return true;
      }
      q += 2;
    }
  }

  // Tokens of one {{ }} or {% %} tag; returns whether the consumed text ended with "\n".
  bool lex_tag(bool is_block) {
    int depth = 0;  // brackets open inside the tag
    while (true) {
      while (pos_ < src_.size() && is_py_space(src_[pos_])) {
        line_ += src_[pos_] == '\n';
        ++pos_;
      }
      if (pos_ >= src_.size()) fail(line_, is_block ? "unclosed block tag" : "unclosed {{");
      const char* closer = is_block ? "%}" : "}}";
      if (depth == 0) {
        bool strip = false, plus = false;
        size_t p = pos_;
        if (src_[p] == '-' || (is_block && src_[p] == '+')) {
          strip = src_[p] == '-';
          plus = src_[p] == '+';
          ++p;
        }
        if (src_.compare(p, 2, closer) == 0 && (strip || plus || p == pos_)) {
          tokens_.push_back({is_block ? Token::Type::kBlockEnd : Token::Type::kVarEnd, "", line_});
          pos_ = p + 2;
          if (!is_block) {
            if (strip) return after_block_end(true, false);
            return false;
          }
          return after_block_end(strip, plus);
        }
      }
      const char c = src_[pos_];
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t e = pos_;
        while (e < src_.size() &&
               (std::isalnum(static_cast<unsigned char>(src_[e])) || src_[e] == '_'))
          ++e;
        tokens_.push_back({Token::Type::kName, src_.substr(pos_, e - pos_), line_});
        pos_ = e;
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        size_t e = pos_;
        while (e < src_.size() &&
               (std::isdigit(static_cast<unsigned char>(src_[e])) || src_[e] == '_'))
          ++e;
        bool is_float = false;
        if (e + 1 < src_.size() && src_[e] == '.' &&
            std::isdigit(static_cast<unsigned char>(src_[e + 1]))) {
          is_float = true;
          ++e;
          while (e < src_.size() &&
                 (std::isdigit(static_cast<unsigned char>(src_[e])) || src_[e] == '_'))
            ++e;
        }
        if (e < src_.size() && (src_[e] == 'e' || src_[e] == 'E')) {
          size_t f = e + 1;
          if (f < src_.size() && (src_[f] == '+' || src_[f] == '-')) ++f;
          if (f < src_.size() && std::isdigit(static_cast<unsigned char>(src_[f]))) {
            is_float = true;
            e = f;
            while (e < src_.size() && std::isdigit(static_cast<unsigned char>(src_[e]))) ++e;
          }
        }
        std::string num;
        for (size_t k = pos_; k < e; ++k)
          if (src_[k] != '_') num += src_[k];
        tokens_.push_back({is_float ? Token::Type::kFloat : Token::Type::kInt, num, line_});
        pos_ = e;
      } else if (c == '\'' || c == '"') {
        size_t e = pos_ + 1;
        while (e < src_.size() && src_[e] != c) {
          if (src_[e] == '\\') ++e;
          ++e;
        }
        if (e >= src_.size()) fail(line_, "unterminated string literal");
        const int line = line_;
        const std::string_view body(src_.data() + pos_ + 1, e - pos_ - 1);
        count_lines(body);
        tokens_.push_back({Token::Type::kString, unescape(body, line), line});
        pos_ = e + 1;
      } else {
        static const char* const kOps[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*",
                                           "/",  "%",  "~",  "<",  ">",  "=",  "(", ")", "[",
                                           "]",  "{",  "}",  ",",  ".",  ":",  "|"};
        bool found = false;
        for (const char* op : kOps) {
          const size_t n = std::strlen(op);
          if (src_.compare(pos_, n, op) == 0) {
            if (op[0] == '(' || op[0] == '[' || op[0] == '{') ++depth;
            if ((op[0] == ')' || op[0] == ']' || op[0] == '}') && depth > 0) --depth;
            tokens_.push_back({Token::Type::kOp, op, line_});
            pos_ += n;
            found = true;
            break;
          }
        }
        if (!found) fail(line_, cat("unexpected character '", c, "'"));
      }
    }
  }

  std::string src_;
  size_t pos_ = 0;
  int line_ = 1;
  std::vector<Token> tokens_;
};

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : toks_(std::move(tokens)) {}

  Body parse_template() {
    Body body = parse_body({});
    if (peek().type != Token::Type::kEof) fail(peek().line, "unexpected tag");
    return body;
  }

 private:
  const Token& peek(size_t k = 0) const { return toks_[std::min(i_ + k, toks_.size() - 1)]; }
  const Token& next() { return toks_[std::min(i_++, toks_.size() - 1)]; }
  bool at_op(const char* op) const { return peek().type == Token::Type::kOp && peek().value == op; }
  bool at_name(const char* n) const {
    return peek().type == Token::Type::kName && peek().value == n;
  }
  void expect_op(const char* op) {
    if (!at_op(op)) fail(peek().line, cat("expected '", op, "', found '", describe(peek()), "'"));
    ++i_;
  }
  void expect_name(const char* n) {
    if (!at_name(n)) fail(peek().line, cat("expected '", n, "', found '", describe(peek()), "'"));
    ++i_;
  }
  std::string expect_ident() {
    if (peek().type != Token::Type::kName)
      fail(peek().line, cat("expected a name, found '", describe(peek()), "'"));
    return next().value;
  }
  void expect_block_end() {
    if (peek().type != Token::Type::kBlockEnd)
      fail(peek().line, cat("expected end of tag, found '", describe(peek()), "'"));
    ++i_;
  }
  static std::string describe(const Token& t) {
    switch (t.type) {
      case Token::Type::kEof:
        return "end of template";
      case Token::Type::kBlockEnd:
        return "%}";
      case Token::Type::kVarEnd:
        return "}}";
      case Token::Type::kText:
        return "text";
      default:
        return t.value;
    }
  }

  struct DepthGuard {
    int& d;
    DepthGuard(int& depth, int line) : d(depth) {
      if (++d > kMaxNesting)
        fail(line, cat("template nested more than ", kMaxNesting, " levels deep"));
    }
    ~DepthGuard() { --d; }
  };

  // Parses statements until a block tag whose keyword is in `stop` (left unconsumed, after
  // its "{%").
  Body parse_body(const std::vector<std::string>& stop) {
    DepthGuard g(depth_, peek().line);
    Body body;
    while (true) {
      const Token& t = peek();
      if (t.type == Token::Type::kEof) {
        if (!stop.empty()) fail(t.line, cat("missing {% ", stop.back(), " %}"));
        return body;
      }
      if (t.type == Token::Type::kText) {
        auto s = std::make_unique<Stmt>();
        s->kind = Stmt::Kind::kText;
        s->line = t.line;
        s->text = t.value;
        body.push_back(std::move(s));
        ++i_;
      } else if (t.type == Token::Type::kVarBegin) {
        ++i_;
        auto s = std::make_unique<Stmt>();
        s->kind = Stmt::Kind::kOutput;
        s->line = t.line;
        s->expr = parse_expr();
        if (peek().type != Token::Type::kVarEnd)
          fail(peek().line, cat("expected '}}', found '", describe(peek()), "'"));
        ++i_;
        body.push_back(std::move(s));
      } else if (t.type == Token::Type::kBlockBegin) {
        const Token& kw = peek(1);
        if (kw.type != Token::Type::kName) fail(kw.line, "expected a statement keyword");
        for (const auto& s : stop)
          if (kw.value == s) return body;
        ++i_;
        body.push_back(parse_statement());
      } else {
        fail(t.line, cat("unexpected '", describe(t), "'"));
      }
    }
  }

  // Consumes "{% name" of an end/else tag.
  void expect_tag(const char* name) {
    if (peek().type != Token::Type::kBlockBegin)
      fail(peek().line, cat("expected {% ", name, " %}"));
    ++i_;
    expect_name(name);
  }

  StmtPtr parse_statement() {
    const Token kw = next();
    auto s = std::make_unique<Stmt>();
    s->line = kw.line;
    const std::string& k = kw.value;
    if (k == "if") {
      s->kind = Stmt::Kind::kIf;
      ExprPtr cond = parse_expr();
      expect_block_end();
      while (true) {
        Body b = parse_body({"elif", "else", "endif"});
        s->branches.emplace_back(std::move(cond), std::move(b));
        ++i_;  // {%
        const std::string w = next().value;
        if (w == "elif") {
          cond = parse_expr();
          expect_block_end();
          continue;
        }
        if (w == "else") {
          expect_block_end();
          s->else_body = parse_body({"endif"});
          expect_tag("endif");
        }
        expect_block_end();
        break;
      }
    } else if (k == "for") {
      s->kind = Stmt::Kind::kFor;
      const bool paren = at_op("(");
      if (paren) ++i_;
      s->targets.push_back(expect_ident());
      while (at_op(",")) {
        ++i_;
        s->targets.push_back(expect_ident());
      }
      if (paren) expect_op(")");
      expect_name("in");
      s->expr = parse_cond_free();
      if (at_name("if")) {
        ++i_;
        s->cond = parse_cond_free();
      }
      if (at_name("recursive")) fail(kw.line, "recursive loops are not supported");
      expect_block_end();
      s->body = parse_body({"else", "endfor"});
      if (peek(1).value == "else") {
        expect_tag("else");
        expect_block_end();
        s->else_body = parse_body({"endfor"});
      }
      expect_tag("endfor");
      expect_block_end();
    } else if (k == "set") {
      s->targets.push_back(expect_ident());
      if (at_op(".")) {
        ++i_;
        s->attr = expect_ident();
      }
      while (at_op(",")) {
        ++i_;
        s->targets.push_back(expect_ident());
      }
      if (at_op("=")) {
        ++i_;
        s->kind = Stmt::Kind::kSet;
        s->expr = parse_tuple_or_expr();
        expect_block_end();
      } else {
        if (s->targets.size() != 1 || !s->attr.empty()) fail(kw.line, "bad set block");
        s->kind = Stmt::Kind::kSetBlock;
        expect_block_end();
        s->body = parse_body({"endset"});
        expect_tag("endset");
        expect_block_end();
      }
    } else if (k == "macro") {
      s->kind = Stmt::Kind::kMacro;
      s->text = expect_ident();
      expect_op("(");
      while (!at_op(")")) {
        std::string p = expect_ident();
        ExprPtr def;
        if (at_op("=")) {
          ++i_;
          def = parse_expr();
        }
        s->params.emplace_back(std::move(p), std::move(def));
        if (!at_op(")")) expect_op(",");
      }
      ++i_;
      expect_block_end();
      s->body = parse_body({"endmacro"});
      expect_tag("endmacro");
      expect_block_end();
    } else if (k == "call") {
      s->kind = Stmt::Kind::kCallBlock;
      s->expr = parse_expr();
      expect_block_end();
      s->body = parse_body({"endcall"});
      expect_tag("endcall");
      expect_block_end();
    } else if (k == "filter") {
      s->kind = Stmt::Kind::kFilterBlock;
      auto placeholder = std::make_unique<Expr>();
      placeholder->kind = Expr::Kind::kName;
      placeholder->name = " filter-body";
      placeholder->line = kw.line;
      s->expr = parse_filters(std::move(placeholder), /*first_without_pipe=*/true);
      expect_block_end();
      s->body = parse_body({"endfilter"});
      expect_tag("endfilter");
      expect_block_end();
    } else if (k == "break" || k == "continue") {
      s->kind = k == "break" ? Stmt::Kind::kBreak : Stmt::Kind::kContinue;
      expect_block_end();
    } else if (k == "generation") {
      s->kind = Stmt::Kind::kScope;
      expect_block_end();
      s->body = parse_body({"endgeneration"});
      expect_tag("endgeneration");
      expect_block_end();
    } else {
      fail(kw.line, cat("unknown or misplaced tag '", k, "'"));
    }
    return s;
  }

  ExprPtr make(Expr::Kind kind, int line, std::string name = {}) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = line;
    e->name = std::move(name);
    return e;
  }

  // "a, b" at the top of a set: a tuple.
  ExprPtr parse_tuple_or_expr() {
    const int line = peek().line;
    ExprPtr first = parse_expr();
    if (!at_op(",")) return first;
    auto t = make(Expr::Kind::kTuple, line);
    t->args.push_back(std::move(first));
    while (at_op(",")) {
      ++i_;
      t->args.push_back(parse_expr());
    }
    return t;
  }

  ExprPtr parse_expr() {
    DepthGuard g(depth_, peek().line);
    ExprPtr e = parse_or();
    while (at_name("if")) {
      const int line = next().line;
      auto c = make(Expr::Kind::kCond, line);
      c->args.push_back(std::move(e));
      c->args.push_back(parse_or());
      if (at_name("else")) {
        ++i_;
        c->args.push_back(parse_expr());
      } else {
        c->args.push_back(nullptr);
      }
      e = std::move(c);
    }
    return e;
  }
  // An expression without a trailing "if" (for-loop iterables and filters).
  ExprPtr parse_cond_free() {
    DepthGuard g(depth_, peek().line);
    return parse_or();
  }

  ExprPtr binary(const std::string& op, ExprPtr l, ExprPtr r, int line) {
    auto b = make(Expr::Kind::kBinary, line, op);
    b->args.push_back(std::move(l));
    b->args.push_back(std::move(r));
    return b;
  }

  ExprPtr parse_or() {
    ExprPtr l = parse_and();
    while (at_name("or")) {
      const int line = next().line;
      l = binary("or", std::move(l), parse_and(), line);
    }
    return l;
  }
  ExprPtr parse_and() {
    ExprPtr l = parse_not();
    while (at_name("and")) {
      const int line = next().line;
      l = binary("and", std::move(l), parse_not(), line);
    }
    return l;
  }
  ExprPtr parse_not() {
    if (at_name("not")) {
      DepthGuard g(depth_, peek().line);
      auto u = make(Expr::Kind::kUnary, next().line, "not");
      u->args.push_back(parse_not());
      return u;
    }
    return parse_compare();
  }
  ExprPtr parse_compare() {
    ExprPtr l = parse_math1();
    while (true) {
      const int line = peek().line;
      std::string op;
      if (peek().type == Token::Type::kOp &&
          (peek().value == "==" || peek().value == "!=" || peek().value == "<" ||
           peek().value == ">" || peek().value == "<=" || peek().value == ">=")) {
        op = next().value;
      } else if (at_name("in")) {
        ++i_;
        op = "in";
      } else if (at_name("not") && peek(1).type == Token::Type::kName && peek(1).value == "in") {
        i_ += 2;
        op = "not in";
      } else {
        return l;
      }
      l = binary(op, std::move(l), parse_math1(), line);
    }
  }
  ExprPtr parse_math1() {
    ExprPtr l = parse_concat();
    while (at_op("+") || at_op("-")) {
      const Token& t = next();
      l = binary(t.value, std::move(l), parse_concat(), t.line);
    }
    return l;
  }
  ExprPtr parse_concat() {
    ExprPtr l = parse_math2();
    while (at_op("~")) {
      const int line = next().line;
      l = binary("~", std::move(l), parse_math2(), line);
    }
    return l;
  }
  ExprPtr parse_math2() {
    ExprPtr l = parse_pow();
    while (at_op("*") || at_op("/") || at_op("//") || at_op("%")) {
      const Token& t = next();
      l = binary(t.value, std::move(l), parse_pow(), t.line);
    }
    return l;
  }
  ExprPtr parse_pow() {
    ExprPtr l = parse_unary(true);
    while (at_op("**")) {
      const int line = next().line;
      l = binary("**", std::move(l), parse_unary(true), line);
    }
    return l;
  }
  ExprPtr parse_unary(bool with_filter) {
    DepthGuard g(depth_, peek().line);
    ExprPtr node;
    if (at_op("-") || at_op("+")) {
      const Token& t = next();
      node = make(Expr::Kind::kUnary, t.line, t.value);
      node->args.push_back(parse_unary(false));
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filters(std::move(node), false);
    return node;
  }

  ExprPtr parse_primary() {
    const Token& t = peek();
    switch (t.type) {
      case Token::Type::kString: {
        auto e = make(Expr::Kind::kLiteral, t.line);
        std::string s = next().value;
        while (peek().type == Token::Type::kString) s += next().value;  // adjacent literals
        e->value = Value(std::move(s));
        return e;
      }
      case Token::Type::kInt: {
        auto e = make(Expr::Kind::kLiteral, t.line);
        try {
          e->value = Value(static_cast<int64_t>(std::stoll(t.value)));
        } catch (const std::exception&) {
          fail(t.line, cat("integer literal out of range: ", t.value));
        }
        ++i_;
        return e;
      }
      case Token::Type::kFloat: {
        auto e = make(Expr::Kind::kLiteral, t.line);
        try {
          e->value = Value(std::stod(t.value));
        } catch (const std::exception&) {
          fail(t.line, cat("float literal out of range: ", t.value));
        }
        ++i_;
        return e;
      }
      case Token::Type::kName: {
        const std::string& n = t.value;
        auto e = make(Expr::Kind::kLiteral, t.line);
        if (n == "true" || n == "True")
          e->value = Value(true);
        else if (n == "false" || n == "False")
          e->value = Value(false);
        else if (n == "none" || n == "None")
          e->value = Value::none();
        else
          e = make(Expr::Kind::kName, t.line, n);
        ++i_;
        return e;
      }
      case Token::Type::kOp:
        if (t.value == "(") {
          ++i_;
          if (at_op(")")) {
            ++i_;
            return make(Expr::Kind::kTuple, t.line);
          }
          ExprPtr e = parse_expr();
          if (at_op(",")) {
            auto tup = make(Expr::Kind::kTuple, t.line);
            tup->args.push_back(std::move(e));
            while (at_op(",")) {
              ++i_;
              if (at_op(")")) break;
              tup->args.push_back(parse_expr());
            }
            e = std::move(tup);
          }
          expect_op(")");
          return e;
        }
        if (t.value == "[") {
          ++i_;
          auto l = make(Expr::Kind::kList, t.line);
          while (!at_op("]")) {
            l->args.push_back(parse_expr());
            if (!at_op("]")) expect_op(",");
          }
          ++i_;
          return l;
        }
        if (t.value == "{") {
          ++i_;
          auto d = make(Expr::Kind::kDict, t.line);
          while (!at_op("}")) {
            d->args.push_back(parse_expr());
            expect_op(":");
            d->args.push_back(parse_expr());
            if (!at_op("}")) expect_op(",");
          }
          ++i_;
          return d;
        }
        break;
      default:
        break;
    }
    fail(t.line, cat("unexpected '", describe(t), "' in expression"));
  }

  void parse_call_args(Expr& call) {
    expect_op("(");
    while (!at_op(")")) {
      if (peek().type == Token::Type::kName && peek(1).type == Token::Type::kOp &&
          peek(1).value == "=") {
        std::string k = next().value;
        ++i_;
        call.kwargs.emplace_back(std::move(k), parse_expr());
      } else {
        if (!call.kwargs.empty()) fail(peek().line, "positional argument after keyword argument");
        call.args.push_back(parse_expr());
      }
      if (!at_op(")")) expect_op(",");
    }
    ++i_;
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      const int line = peek().line;
      if (at_op(".")) {
        ++i_;
        if (peek().type == Token::Type::kInt) {  // x.0 is x[0]
          auto g = make(Expr::Kind::kGetItem, line);
          g->args.push_back(std::move(node));
          auto idx = make(Expr::Kind::kLiteral, line);
          try {
            idx->value = Value(static_cast<int64_t>(std::stoll(next().value)));
          } catch (const std::exception&) {
            fail(line, "index out of range");
          }
          g->args.push_back(std::move(idx));
          node = std::move(g);
          continue;
        }
        auto g = make(Expr::Kind::kGetAttr, line, expect_ident());
        g->args.push_back(std::move(node));
        node = std::move(g);
      } else if (at_op("[")) {
        ++i_;
        ExprPtr parts[3];
        bool is_slice = false;
        for (int k = 0; k < 3; ++k) {
          if (!at_op(":") && !at_op("]")) parts[k] = parse_expr();
          if (k < 2 && at_op(":")) {
            ++i_;
            is_slice = true;
          } else {
            break;
          }
        }
        expect_op("]");
        auto g = make(is_slice ? Expr::Kind::kSlice : Expr::Kind::kGetItem, line);
        g->args.push_back(std::move(node));
        if (!is_slice && !parts[0]) fail(line, "empty subscript");
        g->args.push_back(std::move(parts[0]));
        if (is_slice) {
          g->args.push_back(std::move(parts[1]));
          g->args.push_back(std::move(parts[2]));
        }
        node = std::move(g);
      } else if (at_op("(")) {
        auto c = make(Expr::Kind::kCall, line);
        c->args.push_back(std::move(node));
        parse_call_args(*c);
        node = std::move(c);
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_filters(ExprPtr node, bool first_without_pipe) {
    bool first = first_without_pipe;
    while (true) {
      const int line = peek().line;
      if (at_op("|") || first) {
        if (!first) ++i_;
        first = false;
        std::string name = expect_ident();
        while (at_op(".")) {  // dotted filter names
          ++i_;
          name += "." + expect_ident();
        }
        auto f = make(Expr::Kind::kFilter, line, name);
        f->args.push_back(std::move(node));
        if (at_op("(")) parse_call_args(*f);
        node = std::move(f);
      } else if (at_name("is")) {
        ++i_;
        auto t = make(Expr::Kind::kTest, line);
        if (at_name("not")) {
          ++i_;
          t->negated = true;
        }
        t->name = expect_ident();
        t->args.push_back(std::move(node));
        if (at_op("(")) {
          parse_call_args(*t);
        } else {
          const Token& a = peek();
          const bool starts_arg =
              (a.type == Token::Type::kName && a.value != "else" && a.value != "or" &&
               a.value != "and" && a.value != "if" && a.value != "is" && a.value != "in" &&
               a.value != "not") ||
              a.type == Token::Type::kString || a.type == Token::Type::kInt ||
              a.type == Token::Type::kFloat ||
              (a.type == Token::Type::kOp && (a.value == "[" || a.value == "{"));
          if (starts_arg) t->args.push_back(parse_postfix(parse_primary()));
        }
        node = std::move(t);
      } else if (at_op("(")) {
        auto c = make(Expr::Kind::kCall, line);
        c->args.push_back(std::move(node));
        parse_call_args(*c);
        node = std::move(c);
      } else {
        return node;
      }
    }
  }

  std::vector<Token> toks_;
  size_t i_ = 0;
  int depth_ = 0;
};

}  // namespace

Body parse(const std::string& source) {
  Lexer lexer(source);
  Parser parser(lexer.run());
  return parser.parse_template();
}

}  // namespace ds::jinja
