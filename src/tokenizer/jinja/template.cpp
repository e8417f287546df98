// The Jinja interpreter: scopes, statements, expressions, and the builtin filters, tests,
// functions and methods that chat templates use (semantics of jinja2 3.x on Python 3).
#include "tokenizer/jinja/template.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>
#include <unordered_map>

#include "core/error.h"
#include "tokenizer/added_tokens.h"
#include "tokenizer/jinja/ast.h"
#include "tokenizer/utf8.h"

namespace ds::jinja {

struct Template::Program {
  Body body;
};

namespace {

[[noreturn]] void fail(int line, const std::string& msg) {
  throw Error(cat("chat template line ", line, ": ", msg));
}

// Byte offsets of each code point of `s`, plus s.size() at the end.
std::vector<size_t> code_point_offsets(std::string_view s) {
  std::vector<size_t> off;
  off.reserve(s.size() + 1);
  for (size_t i = 0; i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) off.push_back(i);
  off.push_back(s.size());
  return off;
}

bool is_space_cp(uint32_t cp) {
  return is_unicode_whitespace(cp) || (cp >= 0x1C && cp <= 0x1F);
}

std::string py_strip(const std::string& s, const Value* chars, bool left, bool right) {
  std::vector<uint32_t> set;
  const bool custom = chars && !chars->is_none() && !chars->is_undefined();
  if (custom) {
    const std::string& c = chars->as_string();
    for (size_t i = 0; i < c.size();) {
      size_t len;
      set.push_back(utf8::decode(c, i, len));
      i += len;
    }
  }
  auto strip_it = [&](uint32_t cp) {
    return custom ? std::find(set.begin(), set.end(), cp) != set.end() : is_space_cp(cp);
  };
  size_t b = 0, e = s.size();
  if (left)
    while (b < e) {
      size_t len;
      if (!strip_it(utf8::decode(s, b, len))) break;
      b += len;
    }
  if (right)
    while (e > b) {
      size_t k = e - 1;
      while (k > b && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80) --k;
      size_t len;
      if (!strip_it(utf8::decode(s, k, len))) break;
      e = k;
    }
  return s.substr(b, e - b);
}

Value py_split(const std::string& s, const Value* sep_v, int64_t maxsplit, bool from_right) {
  List parts;
  const bool by_space = !sep_v || sep_v->is_none();
  if (by_space) {
    // Runs of whitespace separate; no empty strings.
    std::vector<std::pair<size_t, size_t>> words;
    size_t i = 0, start = std::string::npos;
    while (i < s.size()) {
      size_t len;
      const bool sp = is_space_cp(utf8::decode(s, i, len));
      if (sp && start != std::string::npos) {
        words.emplace_back(start, i);
        start = std::string::npos;
      } else if (!sp && start == std::string::npos) {
        start = i;
      }
      i += len;
    }
    if (start != std::string::npos) words.emplace_back(start, s.size());
    if (maxsplit >= 0 && static_cast<int64_t>(words.size()) > maxsplit + 1) {
      if (!from_right) {
        const size_t tail = words[maxsplit].first;
        words.resize(maxsplit);
        words.emplace_back(tail, s.size());
        std::string last = py_strip(s.substr(tail), nullptr, false, true);
        for (auto& w : words) parts.push_back(Value(s.substr(w.first, w.second - w.first)));
        parts.back() = Value(last);
        return Value::list(std::move(parts));
      }
      const size_t keep = words.size() - maxsplit;
      const size_t head_end = words[keep - 1].second;
      parts.push_back(Value(py_strip(s.substr(0, head_end), nullptr, true, false)));
      for (size_t k = keep; k < words.size(); ++k)
        parts.push_back(Value(s.substr(words[k].first, words[k].second - words[k].first)));
      return Value::list(std::move(parts));
    }
    for (auto& w : words) parts.push_back(Value(s.substr(w.first, w.second - w.first)));
    return Value::list(std::move(parts));
  }
  if (!sep_v->is_string()) throw Error("split: separator must be a string");
  const std::string& sep = sep_v->as_string();
  if (sep.empty()) throw Error("split: empty separator");
  std::vector<std::string> out;
  if (!from_right) {
    size_t pos = 0;
    while (true) {
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit) break;
      const size_t f = s.find(sep, pos);
      if (f == std::string::npos) break;
      out.push_back(s.substr(pos, f - pos));
      pos = f + sep.size();
    }
    out.push_back(s.substr(pos));
  } else {
    size_t end = s.size();
    while (true) {
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit) break;
      if (end < sep.size()) break;
      const size_t f = s.rfind(sep, end - sep.size());
      if (f == std::string::npos) break;
      out.push_back(s.substr(f + sep.size(), end - f - sep.size()));
      end = f;
    }
    out.push_back(s.substr(0, end));
    std::reverse(out.begin(), out.end());
  }
  for (auto& p : out) parts.push_back(Value(std::move(p)));
  return Value::list(std::move(parts));
}

std::string py_replace(const std::string& s, const std::string& from, const std::string& to,
                       int64_t count) {
  std::string out;
  if (from.empty()) {
    const auto off = code_point_offsets(s);
    int64_t n = 0;
    for (size_t k = 0; k + 1 < off.size(); ++k) {
      if (count < 0 || n < count) {
        out += to;
        ++n;
      }
      out.append(s, off[k], off[k + 1] - off[k]);
    }
    if (count < 0 || n < count) out += to;
    return out;
  }
  size_t pos = 0;
  int64_t n = 0;
  while (count < 0 || n < count) {
    const size_t f = s.find(from, pos);
    if (f == std::string::npos) break;
    out.append(s, pos, f - pos);
    out += to;
    pos = f + from.size();
    ++n;
  }
  out.append(s, pos, std::string::npos);
  return out;
}

std::string ascii_case(std::string s, bool upper) {
  for (char& c : s) {
    if (upper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
    if (!upper && c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  return s;
}

bool is_alpha_ascii(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

std::string py_title(const std::string& s) {
  std::string out = s;
  bool prev_cased = false;
  for (char& c : out) {
    if (is_alpha_ascii(c)) {
      c = prev_cased ? ascii_case(std::string(1, c), false)[0]
                     : ascii_case(std::string(1, c), true)[0];
      prev_cased = true;
    } else {
      prev_cased = static_cast<unsigned char>(c) >= 0x80 && prev_cased;
    }
  }
  return out;
}

std::string py_capitalize(const std::string& s) {
  std::string out = ascii_case(s, false);
  if (!out.empty()) out[0] = ascii_case(out.substr(0, 1), true)[0];
  return out;
}

// Python slice indices, clamped as list.__getitem__ does.
std::vector<int64_t> slice_indices(int64_t n, const Value& start, const Value& stop,
                                   const Value& step_v) {
  const int64_t step = step_v.is_none() || step_v.is_undefined() ? 1 : step_v.as_int();
  if (step == 0) throw Error("slice step cannot be zero");
  auto norm = [&](const Value& v, int64_t dflt) {
    if (v.is_none() || v.is_undefined()) return dflt;
    int64_t i = v.as_int();
    if (i < 0) i += n;
    if (step > 0) return std::clamp<int64_t>(i, 0, n);
    return std::clamp<int64_t>(i, -1, n - 1);
  };
  const int64_t b = norm(start, step > 0 ? 0 : n - 1);
  const int64_t e = norm(stop, step > 0 ? n : -1);
  std::vector<int64_t> idx;
  if (step > 0)
    for (int64_t i = b; i < e; i += step) idx.push_back(i);
  else
    for (int64_t i = b; i > e; i += step) idx.push_back(i);
  return idx;
}

int compare(const Value& a, const Value& b, int line) {
  if (a.is_number() && b.is_number()) {
    const double x = a.as_float(), y = b.as_float();
    if (a.type() != Value::Type::kFloat && b.type() != Value::Type::kFloat)
      return a.as_int() < b.as_int() ? -1 : a.as_int() > b.as_int();
    return x < y ? -1 : x > y;
  }
  if (a.is_string() && b.is_string())
    return a.as_string().compare(b.as_string()) < 0 ? -1 : a.as_string() != b.as_string();
  if (a.is_list() && b.is_list()) {
    const List &x = a.as_list(), &y = b.as_list();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (equal(x[i], y[i])) continue;
      return compare(x[i], y[i], line);
    }
    return x.size() < y.size() ? -1 : x.size() > y.size();
  }
  fail(line, cat("cannot compare ", a.type_name(), " with ", b.type_name()));
}

Value to_list(const Value& v, int line) {
  switch (v.type()) {
    case Value::Type::kList:
      return v;
    case Value::Type::kDict: {
      List keys;
      for (const auto& kv : v.as_dict()) keys.push_back(Value(kv.first));
      return Value::list(std::move(keys));
    }
    case Value::Type::kString: {
      List chars;
      const auto off = code_point_offsets(v.as_string());
      for (size_t k = 0; k + 1 < off.size(); ++k)
        chars.push_back(Value(v.as_string().substr(off[k], off[k + 1] - off[k])));
      return Value::list(std::move(chars));
    }
    case Value::Type::kUndefined:
      return Value::list();
    default:
      fail(line, cat("'", v.type_name(), "' object is not iterable"));
  }
}

Value json_to_value(const nlohmann::ordered_json& j) {
  return Value::from_json(j);
}

class Interp {
 public:
  Interp(const Value& context, const Limits& limits) : ctx_(context), lim_(limits) {
    scopes_.push_back(std::make_shared<Frame>());
  }

  std::string run(const Body& body) {
    exec(body);
    return std::move(out_);
  }

 private:
  using Frame = std::unordered_map<std::string, Value>;
  enum class Flow { kNormal, kBreak, kContinue };

  void step(int line) {
    if (++steps_ > lim_.max_steps)
      fail(line, cat("template stopped after ", lim_.max_steps, " steps (endless loop?)"));
  }
  void emit(std::string_view s, int line) {
    out_ += s;
    if (out_.size() > lim_.max_output)
      fail(line, cat("output exceeds ", lim_.max_output, " bytes"));
  }

  Value lookup(const std::string& name, int line) {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      auto f = (*it)->find(name);
      if (f != (*it)->end()) return f->second;
    }
    if (const Value* v = ctx_.find(name)) return *v;
    if (Value b = builtin(name); !b.is_undefined()) return b;
    return Value::undefined(name);
  }
  void assign(const std::string& name, Value v) { (*scopes_.back())[name] = std::move(v); }

  Flow exec(const Body& body) {
    for (const auto& s : body) {
      const Flow f = exec(*s);
      if (f != Flow::kNormal) return f;
    }
    return Flow::kNormal;
  }

  std::string capture(const Body& body) {
    std::string saved;
    saved.swap(out_);
    exec(body);
    saved.swap(out_);
    return saved;
  }

  Flow exec(const Stmt& s) {
    step(s.line);
    switch (s.kind) {
      case Stmt::Kind::kText:
        emit(s.text, s.line);
        return Flow::kNormal;
      case Stmt::Kind::kOutput: {
        const Value v = eval(*s.expr);
        if (v.is_function()) fail(s.line, "cannot print a function");
        emit(v.str(), s.line);
        return Flow::kNormal;
      }
      case Stmt::Kind::kIf:
        for (const auto& [cond, body] : s.branches)
          if (eval(*cond).truthy()) return exec(body);
        return exec(s.else_body);
      case Stmt::Kind::kFor:
        return exec_for(s);
      case Stmt::Kind::kSet: {
        Value v = eval(*s.expr);
        if (!s.attr.empty()) {
          const Value ns = lookup(s.targets[0], s.line);
          if (!ns.is_namespace())
            fail(s.line,
                 cat("cannot assign attribute on non-namespace object '", s.targets[0], "'"));
          ns.set(s.attr, std::move(v));
        } else if (s.targets.size() == 1) {
          assign(s.targets[0], std::move(v));
        } else {
          unpack(s.targets, v, s.line);
        }
        return Flow::kNormal;
      }
      case Stmt::Kind::kSetBlock:
        assign(s.targets[0], Value(capture(s.body)));
        return Flow::kNormal;
      case Stmt::Kind::kMacro:
        assign(s.text, make_macro(s));
        return Flow::kNormal;
      case Stmt::Kind::kCallBlock: {
        // {% call f(args) %}body{% endcall %}: f sees `caller()` returning the body.
        const Stmt* blk = &s;
        Value caller = Value::function(
            "caller", [this, blk](const Args&) { return Value(capture(blk->body)); });
        scopes_.push_back(std::make_shared<Frame>());
        assign("caller", caller);
        const Value v = eval(*s.expr);
        scopes_.pop_back();
        emit(v.str(), s.line);
        return Flow::kNormal;
      }
      case Stmt::Kind::kFilterBlock: {
        scopes_.push_back(std::make_shared<Frame>());
        assign(" filter-body", Value(capture(s.body)));
        const Value v = eval(*s.expr);
        scopes_.pop_back();
        emit(v.str(), s.line);
        return Flow::kNormal;
      }
      case Stmt::Kind::kBreak:
        if (loop_depth_ == 0) fail(s.line, "break outside a loop");
        return Flow::kBreak;
      case Stmt::Kind::kContinue:
        if (loop_depth_ == 0) fail(s.line, "continue outside a loop");
        return Flow::kContinue;
      case Stmt::Kind::kScope:
        return exec(s.body);
    }
    return Flow::kNormal;
  }

  void unpack(const std::vector<std::string>& targets, const Value& v, int line) {
    const Value l = to_list(v, line);
    if (l.as_list().size() != targets.size())
      fail(line,
           cat("cannot unpack ", l.as_list().size(), " values into ", targets.size(), " names"));
    for (size_t k = 0; k < targets.size(); ++k) assign(targets[k], l.as_list()[k]);
  }

  Flow exec_for(const Stmt& s) {
    const Value iterable = eval(*s.expr);
    if (iterable.is_none()) fail(s.line, "'NoneType' object is not iterable");
    const Value seq = to_list(iterable, s.line);
    List items;
    if (s.cond) {
      for (const Value& item : seq.as_list()) {
        scopes_.push_back(std::make_shared<Frame>());
        if (s.targets.size() == 1)
          assign(s.targets[0], item);
        else
          unpack(s.targets, item, s.line);
        const bool keep = eval(*s.cond).truthy();
        scopes_.pop_back();
        if (keep) items.push_back(item);
      }
    } else {
      items = seq.as_list();
    }
    if (items.empty()) return exec(s.else_body);
    const auto n = static_cast<int64_t>(items.size());
    ++loop_depth_;
    for (int64_t i = 0; i < n; ++i) {
      step(s.line);
      scopes_.push_back(std::make_shared<Frame>());
      Dict loop{{"index0", Value(i)},
                {"index", Value(i + 1)},
                {"revindex0", Value(n - i - 1)},
                {"revindex", Value(n - i)},
                {"first", Value(i == 0)},
                {"last", Value(i == n - 1)},
                {"length", Value(n)},
                {"depth", Value(1)},
                {"depth0", Value(0)},
                {"previtem", i > 0 ? items[i - 1] : Value::undefined("previtem")},
                {"nextitem", i + 1 < n ? items[i + 1] : Value::undefined("nextitem")}};
      loop.emplace_back("cycle", Value::function("cycle", [i](const Args& a) {
                          if (a.pos.empty()) throw Error("loop.cycle: no items");
                          return a.pos[static_cast<size_t>(i) % a.pos.size()];
                        }));
      assign("loop", Value::dict(std::move(loop)));
      if (s.targets.size() == 1)
        assign(s.targets[0], items[i]);
      else
        unpack(s.targets, items[i], s.line);
      const Flow f = exec(s.body);
      scopes_.pop_back();
      if (f == Flow::kBreak) break;
    }
    --loop_depth_;
    return Flow::kNormal;
  }

  Value make_macro(const Stmt& s) {
    const Stmt* m = &s;
    return Value::function(s.text, [this, m](const Args& a) {
      if (++call_depth_ > lim_.max_call_depth)
        fail(m->line,
             cat("macro '", m->text, "' nested more than ", lim_.max_call_depth, " calls deep"));
      auto frame = std::make_shared<Frame>();
      for (size_t k = 0; k < m->params.size(); ++k) {
        const auto& [pname, def] = m->params[k];
        if (const Value* v = a.get(k, pname))
          (*frame)[pname] = *v;
        else if (def)
          (*frame)[pname] = eval(*def);
        else
          (*frame)[pname] = Value::undefined(pname);
      }
      if (a.pos.size() > m->params.size())
        fail(m->line, cat("macro '", m->text, "' takes ", m->params.size(), " arguments"));
      if (Value caller = lookup("caller", m->line); caller.is_function())
        (*frame)["caller"] = caller;
      std::vector<std::shared_ptr<Frame>> saved = {scopes_[0], frame};
      saved.swap(scopes_);
      const int saved_loops = loop_depth_;
      loop_depth_ = 0;
      std::string text;
      try {
        text = capture(m->body);
      } catch (...) {
        saved.swap(scopes_);
        loop_depth_ = saved_loops;
        --call_depth_;
        throw;
      }
      saved.swap(scopes_);
      loop_depth_ = saved_loops;
      --call_depth_;
      return Value(std::move(text));
    });
  }

  // ---- expressions --------------------------------------------------------------------

  Args eval_args(const Expr& e, size_t first) {
    Args a;
    for (size_t k = first; k < e.args.size(); ++k) a.pos.push_back(eval(*e.args[k]));
    for (const auto& [k, v] : e.kwargs) a.kw.emplace_back(k, eval(*v));
    return a;
  }

  static void require_defined(const Value& v, int line) {
    if (v.is_undefined())
      fail(line, v.name().empty() ? "value is undefined" : cat("'", v.name(), "' is undefined"));
  }

  Value eval(const Expr& e) {
    step(e.line);
    switch (e.kind) {
      case Expr::Kind::kLiteral:
        return e.value;
      case Expr::Kind::kName:
        return lookup(e.name, e.line);
      case Expr::Kind::kList:
      case Expr::Kind::kTuple: {
        List l;
        for (const auto& x : e.args) l.push_back(eval(*x));
        return e.kind == Expr::Kind::kTuple ? Value::tuple(std::move(l))
                                            : Value::list(std::move(l));
      }
      case Expr::Kind::kDict: {
        Value d = Value::dict();
        for (size_t k = 0; k + 1 < e.args.size(); k += 2) {
          const Value key = eval(*e.args[k]);
          d.set(key.str(), eval(*e.args[k + 1]));
        }
        return d;
      }
      case Expr::Kind::kGetAttr:
        return get_attr(eval(*e.args[0]), e.name, e.line);
      case Expr::Kind::kGetItem:
        return get_item(eval(*e.args[0]), eval(*e.args[1]), e.line);
      case Expr::Kind::kSlice: {
        const Value obj = eval(*e.args[0]);
        require_defined(obj, e.line);
        auto bound = [&](size_t k) { return e.args[k] ? eval(*e.args[k]) : Value::none(); };
        const Value b = bound(1), en = bound(2), st = bound(3);
        for (const Value* v : {&b, &en, &st})
          if (!v->is_none() && !v->is_int()) fail(e.line, "slice indices must be integers");
        if (obj.is_string()) {
          const auto off = code_point_offsets(obj.as_string());
          std::string r;
          for (int64_t i : slice_indices(static_cast<int64_t>(off.size()) - 1, b, en, st))
            r.append(obj.as_string(), off[i], off[i + 1] - off[i]);
          return Value(std::move(r));
        }
        if (obj.is_list()) {
          List r;
          const List& l = obj.as_list();
          for (int64_t i : slice_indices(static_cast<int64_t>(l.size()), b, en, st))
            r.push_back(l[i]);
          return Value::list(std::move(r));
        }
        fail(e.line, cat("cannot slice a ", obj.type_name()));
      }
      case Expr::Kind::kCall: {
        const Value f = eval(*e.args[0]);
        if (!f.is_function()) {
          if (f.is_undefined()) require_defined(f, e.line);
          fail(e.line, cat("'", f.type_name(), "' object is not callable"));
        }
        const Args a = eval_args(e, 1);
        try {
          return f.as_function()(a);
        } catch (const Error& err) {
          const std::string what = err.what();
          if (what.rfind("chat template", 0) == 0) throw;
          fail(e.line, what);
        }
      }
      case Expr::Kind::kFilter: {
        const Value v = eval(*e.args[0]);
        const Args a = eval_args(e, 1);
        try {
          return filter(e.name, v, a, e.line);
        } catch (const Error& err) {
          const std::string what = err.what();
          if (what.rfind("chat template", 0) == 0) throw;
          fail(e.line, cat("filter '", e.name, "': ", what));
        }
      }
      case Expr::Kind::kTest: {
        const Value v = eval(*e.args[0]);
        const Args a = eval_args(e, 1);
        const bool r = test(e.name, v, a, e.line);
        return Value(e.negated ? !r : r);
      }
      case Expr::Kind::kUnary: {
        const Value v = eval(*e.args[0]);
        if (e.name == "not") return Value(!v.truthy());
        require_defined(v, e.line);
        if (!v.is_number())
          fail(e.line, cat("bad operand type for unary ", e.name, ": ", v.type_name()));
        if (e.name == "+") return v.type() == Value::Type::kBool ? Value(v.as_int()) : v;
        if (v.type() == Value::Type::kFloat) return Value(-v.as_float());
        return Value(-v.as_int());
      }
      case Expr::Kind::kBinary:
        return binary(e);
      case Expr::Kind::kCond:
        if (eval(*e.args[1]).truthy()) return eval(*e.args[0]);
        return e.args[2] ? eval(*e.args[2]) : Value::undefined();
    }
    return Value();
  }

  bool contains(const Value& container, const Value& item, int line) {
    switch (container.type()) {
      case Value::Type::kString:
        if (!item.is_string()) fail(line, "'in <string>' requires a string as left operand");
        return container.as_string().find(item.as_string()) != std::string::npos;
      case Value::Type::kList:
        for (const Value& x : container.as_list())
          if (equal(x, item)) return true;
        return false;
      case Value::Type::kDict:
        return item.is_string() && container.find(item.as_string()) != nullptr;
      case Value::Type::kUndefined:
        return false;
      default:
        fail(line, cat("argument of type '", container.type_name(), "' is not iterable"));
    }
  }

  Value binary(const Expr& e) {
    const std::string& op = e.name;
    if (op == "and") {
      Value l = eval(*e.args[0]);
      return l.truthy() ? eval(*e.args[1]) : l;
    }
    if (op == "or") {
      Value l = eval(*e.args[0]);
      return l.truthy() ? l : eval(*e.args[1]);
    }
    const Value l = eval(*e.args[0]);
    const Value r = eval(*e.args[1]);
    if (op == "==") return Value(equal(l, r));
    if (op == "!=") return Value(!equal(l, r));
    if (op == "in") return Value(contains(r, l, e.line));
    if (op == "not in") return Value(!contains(r, l, e.line));
    if (op == "~") {
      std::string s = l.str();
      s += r.str();
      return Value(std::move(s));
    }
    require_defined(l, e.line);
    require_defined(r, e.line);
    if (op == "<") return Value(compare(l, r, e.line) < 0);
    if (op == ">") return Value(compare(l, r, e.line) > 0);
    if (op == "<=") return Value(compare(l, r, e.line) <= 0);
    if (op == ">=") return Value(compare(l, r, e.line) >= 0);
    if (op == "+") {
      if (l.is_string() && r.is_string()) {
        std::string s = l.as_string();
        s += r.as_string();
        if (s.size() > lim_.max_output) fail(e.line, "string too long");
        return Value(std::move(s));
      }
      if (l.is_list() && r.is_list()) {
        List x = l.as_list();
        x.insert(x.end(), r.as_list().begin(), r.as_list().end());
        return Value::list(std::move(x));
      }
    }
    if (op == "*") {
      const Value* str = l.is_string() ? &l : r.is_string() ? &r : nullptr;
      const Value* num = l.is_int() ? &l : r.is_int() ? &r : nullptr;
      if (str && num) {
        const int64_t n = num->as_int();
        if (n > 0 && str->as_string().size() * static_cast<size_t>(n) > lim_.max_output)
          fail(e.line, "string too long");
        std::string s;
        for (int64_t k = 0; k < n; ++k) s += str->as_string();
        return Value(std::move(s));
      }
    }
    if (op == "%" && l.is_string()) {
      // printf-style formatting with %s only.
      const List args = r.is_tuple() ? r.as_list() : List{r};
      std::string s;
      size_t next = 0;
      const std::string& f = l.as_string();
      for (size_t k = 0; k < f.size(); ++k) {
        if (f[k] == '%' && k + 1 < f.size()) {
          if (f[k + 1] == '%') {
            s += '%';
          } else if (f[k + 1] == 's' || f[k + 1] == 'd') {
            if (next >= args.size()) fail(e.line, "not enough arguments for format string");
            s += args[next++].str();
          } else {
            fail(e.line, "unsupported format in '%' (only %s and %d)");
          }
          ++k;
        } else {
          s += f[k];
        }
      }
      return Value(std::move(s));
    }
    if (!l.is_number() || !r.is_number())
      fail(e.line, cat("unsupported operand types for ", op, ": '", l.type_name(), "' and '",
                       r.type_name(), "'"));
    const bool ints = l.type() != Value::Type::kFloat && r.type() != Value::Type::kFloat;
    if (op == "/") {
      if (r.as_float() == 0) fail(e.line, "division by zero");
      return Value(l.as_float() / r.as_float());
    }
    if (ints) {
      const int64_t a = l.as_int(), b = r.as_int();
      int64_t res = 0;
      if (op == "+") {
        if (__builtin_add_overflow(a, b, &res)) fail(e.line, "integer overflow");
      } else if (op == "-") {
        if (__builtin_sub_overflow(a, b, &res)) fail(e.line, "integer overflow");
      } else if (op == "*") {
        if (__builtin_mul_overflow(a, b, &res)) fail(e.line, "integer overflow");
      } else if (op == "//" || op == "%") {
        if (b == 0) fail(e.line, "integer division or modulo by zero");
        int64_t q = a / b, m = a % b;
        if (m != 0 && ((m < 0) != (b < 0))) {
          --q;
          m += b;
        }
        res = op == "//" ? q : m;
      } else if (op == "**") {
        if (b < 0) return Value(std::pow(static_cast<double>(a), static_cast<double>(b)));
        res = 1;
        for (int64_t k = 0; k < b; ++k)
          if (__builtin_mul_overflow(res, a, &res)) fail(e.line, "integer overflow");
      }
      return Value(res);
    }
    const double a = l.as_float(), b = r.as_float();
    if (op == "+") return Value(a + b);
    if (op == "-") return Value(a - b);
    if (op == "*") return Value(a * b);
    if (op == "**") return Value(std::pow(a, b));
    if (b == 0) fail(e.line, "float division by zero");
    if (op == "//") return Value(std::floor(a / b));
    return Value(a - b * std::floor(a / b));
  }

  Value get_item(const Value& obj, const Value& key, int line) {
    require_defined(obj, line);
    if (obj.is_dict()) {
      if (key.is_string()) {
        if (const Value* v = obj.find(key.as_string())) return *v;
        return method(obj, key.as_string());
      }
      return Value::undefined();
    }
    if (obj.is_list() || obj.is_string()) {
      if (key.is_string()) return method(obj, key.as_string());
      if (!key.is_int()) fail(line, cat("indices must be integers, not ", key.type_name()));
      int64_t i = key.as_int();
      if (obj.is_list()) {
        const auto n = static_cast<int64_t>(obj.as_list().size());
        if (i < 0) i += n;
        if (i < 0 || i >= n) return Value::undefined();
        return obj.as_list()[i];
      }
      const auto off = code_point_offsets(obj.as_string());
      const auto n = static_cast<int64_t>(off.size()) - 1;
      if (i < 0) i += n;
      if (i < 0 || i >= n) return Value::undefined();
      return Value(obj.as_string().substr(off[i], off[i + 1] - off[i]));
    }
    return Value::undefined();
  }

  Value get_attr(const Value& obj, const std::string& name, int line) {
    require_defined(obj, line);
    // jinja2 tries the attribute first (methods), then the item.
    Value m = method(obj, name);
    if (!m.is_undefined()) return m;
    if (obj.is_dict())
      if (const Value* v = obj.find(name)) return *v;
    return Value::undefined(name);
  }

  // Bound methods of str, dict and list.
  Value method(const Value& obj, const std::string& name) {
    auto fn = [&](auto body) { return Value::function(name, body); };
    if (obj.is_string()) {
      const std::string s = obj.as_string();
      if (name == "startswith" || name == "endswith") {
        const bool start = name == "startswith";
        return fn([s, start](const Args& a) {
          const Value* p = a.get(0, "prefix");
          if (!p) throw Error("startswith/endswith: missing argument");
          const List cands = p->is_list() ? p->as_list() : List{*p};
          for (const Value& c : cands) {
            if (!c.is_string()) throw Error("startswith/endswith: argument must be str or tuple");
            const std::string& x = c.as_string();
            if (x.size() <= s.size() && (start ? s.compare(0, x.size(), x) == 0
                                               : s.compare(s.size() - x.size(), x.size(), x) == 0))
              return Value(true);
          }
          return Value(false);
        });
      }
      if (name == "split" || name == "rsplit") {
        const bool right = name == "rsplit";
        return fn([s, right](const Args& a) {
          const Value* m = a.get(1, "maxsplit");
          return py_split(s, a.get(0, "sep"), m ? m->as_int() : -1, right);
        });
      }
      if (name == "strip" || name == "lstrip" || name == "rstrip") {
        const bool l = name != "rstrip", r = name != "lstrip";
        return fn([s, l, r](const Args& a) { return Value(py_strip(s, a.get(0, "chars"), l, r)); });
      }
      if (name == "replace")
        return fn([s](const Args& a) {
          const Value *o = a.get(0, "old"), *n = a.get(1, "new"), *c = a.get(2, "count");
          if (!o || !n || !o->is_string() || !n->is_string())
            throw Error("replace: expected two strings");
          return Value(py_replace(s, o->as_string(), n->as_string(), c ? c->as_int() : -1));
        });
      if (name == "upper" || name == "lower")
        return fn([s, up = name == "upper"](const Args&) { return Value(ascii_case(s, up)); });
      if (name == "title") return fn([s](const Args&) { return Value(py_title(s)); });
      if (name == "capitalize") return fn([s](const Args&) { return Value(py_capitalize(s)); });
      if (name == "find" || name == "rfind" || name == "count" || name == "index")
        return fn([s, name](const Args& a) {
          const Value* x = a.get(0, "sub");
          if (!x || !x->is_string()) throw Error(name + ": expected a string");
          const std::string& sub = x->as_string();
          if (name == "count") {
            if (sub.empty()) return Value(static_cast<int64_t>(code_point_count(s) + 1));
            int64_t n = 0;
            for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size()))
              ++n;
            return Value(n);
          }
          const size_t p = name == "rfind" ? s.rfind(sub) : s.find(sub);
          if (p == std::string::npos) {
            if (name == "index") throw Error("substring not found");
            return Value(static_cast<int64_t>(-1));
          }
          return Value(static_cast<int64_t>(code_point_count(std::string_view(s).substr(0, p))));
        });
      if (name == "join")
        return fn([s](const Args& a) {
          const Value* x = a.get(0, "iterable");
          if (!x) throw Error("join: missing argument");
          std::string r;
          const Value l = to_list(*x, 0);
          for (size_t k = 0; k < l.as_list().size(); ++k) {
            if (k) r += s;
            if (!l.as_list()[k].is_string()) throw Error("join: sequence item is not a string");
            r += l.as_list()[k].as_string();
          }
          return Value(std::move(r));
        });
      if (name == "splitlines")
        return fn([s](const Args&) {
          List l;
          size_t p = 0;
          while (p < s.size()) {
            size_t q = s.find_first_of("\r\n", p);
            if (q == std::string::npos) {
              l.push_back(Value(s.substr(p)));
              break;
            }
            l.push_back(Value(s.substr(p, q - p)));
            p = q + ((s[q] == '\r' && q + 1 < s.size() && s[q + 1] == '\n') ? 2 : 1);
          }
          return Value::list(std::move(l));
        });
      if (name == "isdigit" || name == "isalpha" || name == "isalnum" || name == "isspace" ||
          name == "islower" || name == "isupper")
        return fn([s, name](const Args&) {
          if (s.empty()) return Value(false);
          bool any_cased = false;
          for (unsigned char c : s) {
            const bool digit = c >= '0' && c <= '9', alpha = is_alpha_ascii(static_cast<char>(c));
            if (name == "isdigit" && !digit) return Value(false);
            if (name == "isalpha" && !alpha) return Value(false);
            if (name == "isalnum" && !digit && !alpha) return Value(false);
            if (name == "isspace" && !is_space_cp(c)) return Value(false);
            if (name == "islower" && c >= 'A' && c <= 'Z') return Value(false);
            if (name == "isupper" && c >= 'a' && c <= 'z') return Value(false);
            any_cased |= alpha;
          }
          return Value(name == "islower" || name == "isupper" ? any_cased : true);
        });
    } else if (obj.is_dict() && !obj.is_namespace()) {
      const Value d = obj;
      if (name == "items")
        return fn([d](const Args&) {
          List l;
          for (const auto& [k, v] : d.as_dict()) l.push_back(Value::tuple({Value(k), v}));
          return Value::list(std::move(l));
        });
      if (name == "keys") return fn([d](const Args&) { return to_list(d, 0); });
      if (name == "values")
        return fn([d](const Args&) {
          List l;
          for (const auto& kv : d.as_dict()) l.push_back(kv.second);
          return Value::list(std::move(l));
        });
      if (name == "get")
        return fn([d](const Args& a) {
          const Value* k = a.get(0, "key");
          if (!k) throw Error("get: missing key");
          if (k->is_string())
            if (const Value* v = d.find(k->as_string())) return *v;
          const Value* def = a.get(1, "default");
          return def ? *def : Value::none();
        });
    } else if (obj.is_list()) {
      if (name == "append" || name == "pop" || name == "insert" || name == "extend" ||
          name == "remove" || name == "clear" || name == "sort" || name == "reverse")
        return fn([name](const Args&) -> Value {
          throw Error(cat("list.", name, "() is not allowed (templates are sandboxed)"));
        });
      const Value l = obj;
      if (name == "index" || name == "count")
        return fn([l, name](const Args& a) {
          const Value* x = a.get(0, "value");
          if (!x) throw Error(name + ": missing argument");
          int64_t n = 0, first = -1;
          for (size_t k = 0; k < l.as_list().size(); ++k)
            if (equal(l.as_list()[k], *x)) {
              if (first < 0) first = static_cast<int64_t>(k);
              ++n;
            }
          if (name == "count") return Value(n);
          if (first < 0) throw Error("value is not in list");
          return Value(first);
        });
    }
    return Value::undefined(name);
  }

  // ---- builtins -----------------------------------------------------------------------

  Value builtin(const std::string& name) {
    if (name == "range")
      return Value::function(name, [this](const Args& a) {
        int64_t start = 0, stop, stepv = 1;
        if (a.pos.empty() || a.pos.size() > 3) throw Error("range expects 1 to 3 arguments");
        for (const Value& v : a.pos)
          if (!v.is_int()) throw Error("range arguments must be integers");
        if (a.pos.size() == 1) {
          stop = a.pos[0].as_int();
        } else {
          start = a.pos[0].as_int();
          stop = a.pos[1].as_int();
          if (a.pos.size() == 3) stepv = a.pos[2].as_int();
        }
        if (stepv == 0) throw Error("range step must not be zero");
        const double count = std::ceil((static_cast<double>(stop) - start) / stepv);
        if (count > static_cast<double>(lim_.max_range))
          throw Error(cat("range of ", count, " items exceeds the limit of ", lim_.max_range));
        List l;
        for (int64_t i = start; stepv > 0 ? i < stop : i > stop; i += stepv) l.push_back(Value(i));
        return Value::list(std::move(l));
      });
    if (name == "namespace" || name == "dict")
      return Value::function(name, [ns = name == "namespace"](const Args& a) {
        Value d = Value::dict({}, ns);
        for (const Value& p : a.pos)
          if (p.is_dict())
            for (const auto& [k, v] : p.as_dict()) d.set(k, v);
        for (const auto& [k, v] : a.kw) d.set(k, v);
        return d;
      });
    if (name == "raise_exception")
      return Value::function(name, [](const Args& a) -> Value {
        throw Error(
            cat("chat template raised an exception: ", a.pos.empty() ? "" : a.pos[0].str()));
      });
    if (name == "strftime_now")
      return Value::function(name, [](const Args& a) {
        if (a.pos.empty() || !a.pos[0].is_string())
          throw Error("strftime_now expects a format string");
        const std::time_t t = std::time(nullptr);
        std::tm tm{};
        localtime_r(&t, &tm);
        char buf[256];
        const size_t n = std::strftime(buf, sizeof(buf), a.pos[0].as_string().c_str(), &tm);
        return Value(std::string(buf, n));
      });
    return Value::undefined(name);
  }

  bool test(const std::string& name, const Value& v, const Args& a, int line) {
    auto arg = [&]() -> const Value& {
      if (a.pos.empty()) fail(line, cat("test '", name, "' needs an argument"));
      return a.pos[0];
    };
    if (name == "defined") return !v.is_undefined();
    if (name == "undefined") return v.is_undefined();
    if (name == "none") return v.is_none();
    if (name == "boolean") return v.is_bool();
    if (name == "true") return v.is_bool() && v.as_bool();
    if (name == "false") return v.is_bool() && !v.as_bool();
    if (name == "integer") return v.type() == Value::Type::kInt;
    if (name == "float") return v.type() == Value::Type::kFloat;
    if (name == "number") return v.is_number();
    if (name == "string") return v.is_string();
    if (name == "mapping") return v.is_dict() && !v.is_namespace();
    if (name == "iterable") return v.is_list() || v.is_dict() || v.is_string() || v.is_undefined();
    if (name == "sequence") return v.is_list() || v.is_dict() || v.is_string();
    if (name == "callable") return v.is_function();
    if (name == "odd" || name == "even") {
      if (!v.is_int()) fail(line, cat("test '", name, "' needs an integer"));
      return (v.as_int() % 2 != 0) == (name == "odd");
    }
    if (name == "divisibleby") {
      const Value& d = arg();
      if (!v.is_int() || !d.is_int() || d.as_int() == 0)
        fail(line, "divisibleby needs nonzero integers");
      return v.as_int() % d.as_int() == 0;
    }
    if (name == "eq" || name == "equalto" || name == "==") return equal(v, arg());
    if (name == "ne" || name == "!=") return !equal(v, arg());
    if (name == "lt" || name == "lessthan") return compare(v, arg(), line) < 0;
    if (name == "le") return compare(v, arg(), line) <= 0;
    if (name == "gt" || name == "greaterthan") return compare(v, arg(), line) > 0;
    if (name == "ge") return compare(v, arg(), line) >= 0;
    if (name == "in") return contains(arg(), v, line);
    if (name == "sameas") {
      const Value& o = arg();
      if (v.is_list() && o.is_list()) return &v.as_list() == &o.as_list();
      if (v.is_dict() && o.is_dict()) return &v.as_dict() == &o.as_dict();
      return v.type() == o.type() && (v.is_none() || v.is_undefined() || equal(v, o));
    }
    if (name == "lower" || name == "upper") {
      if (!v.is_string()) return false;
      return ascii_case(v.as_string(), name == "upper") == v.as_string();
    }
    fail(line, cat("unknown test '", name, "'"));
  }

  Value attribute_of(const Value& item, const std::string& path, int line) {
    Value cur = item;
    size_t p = 0;
    while (p <= path.size()) {
      size_t q = path.find('.', p);
      if (q == std::string::npos) q = path.size();
      const std::string part = path.substr(p, q - p);
      const bool numeric =
          !part.empty() && part.size() < 18 && std::all_of(part.begin(), part.end(), ::isdigit);
      cur = numeric
                ? get_item(cur, Value(static_cast<int64_t>(std::stoll(part))), line)
                : (cur.is_dict() ? get_item(cur, Value(part), line) : get_attr(cur, part, line));
      p = q + 1;
    }
    return cur;
  }

  Value filter(const std::string& name, const Value& v, const Args& a, int line) {
    auto opt = [&](size_t idx, const char* kw) { return a.get(idx, kw); };
    if (name == "trim") {
      if (v.is_undefined()) return Value("");
      return Value(py_strip(v.str(), opt(0, "chars"), true, true));
    }
    if (name == "length" || name == "count") {
      switch (v.type()) {
        case Value::Type::kString:
          return Value(static_cast<int64_t>(code_point_count(v.as_string())));
        case Value::Type::kList:
          return Value(static_cast<int64_t>(v.as_list().size()));
        case Value::Type::kDict:
          return Value(static_cast<int64_t>(v.as_dict().size()));
        case Value::Type::kUndefined:
          return Value(static_cast<int64_t>(0));
        default:
          throw Error(cat("object of type '", v.type_name(), "' has no len()"));
      }
    }
    if (name == "tojson") {
      const Value* ind = opt(0, "indent");
      const Value* sk = opt(1, "sort_keys");
      require_defined(v, line);
      return Value(v.to_json(ind && ind->is_int() ? static_cast<int>(ind->as_int()) : -1,
                             sk && sk->truthy()));
    }
    if (name == "from_json") {
      if (!v.is_string()) throw Error("from_json expects a string");
      try {
        return json_to_value(nlohmann::ordered_json::parse(v.as_string()));
      } catch (const nlohmann::json::exception& e) {
        throw Error(cat("not valid JSON: ", e.what()));
      }
    }
    if (name == "string") return Value(v.str());
    if (name == "safe" || name == "forceescape") return v;
    if (name == "e" || name == "escape") {
      std::string r;
      for (char c : v.str()) {
        switch (c) {
          case '&':
            r += "&amp;";
            break;
          case '<':
            r += "&lt;";
            break;
          case '>':
            r += "&gt;";
            break;
          case '"':
            r += "&#34;";
            break;
          case '\'':
            r += "&#39;";
            break;
          default:
            r += c;
        }
      }
      return Value(std::move(r));
    }
    if (name == "default" || name == "d") {
      const Value* dv = opt(0, "default_value");
      const Value* boolean = opt(1, "boolean");
      const bool use_default = v.is_undefined() || (boolean && boolean->truthy() && !v.truthy());
      if (use_default) return dv ? *dv : Value("");
      return v;
    }
    if (name == "upper" || name == "lower") return Value(ascii_case(v.str(), name == "upper"));
    if (name == "title") return Value(py_title(v.str()));
    if (name == "capitalize") return Value(py_capitalize(v.str()));
    if (name == "replace") {
      const Value *o = opt(0, "old"), *n = opt(1, "new"), *c = opt(2, "count");
      if (!o || !n) throw Error("replace needs two arguments");
      return Value(py_replace(v.str(), o->str(), n->str(), c && c->is_int() ? c->as_int() : -1));
    }
    if (name == "join") {
      const Value* sep = opt(0, "d");
      const Value* attr = opt(1, "attribute");
      const Value l = to_list(v, line);
      std::string r;
      for (size_t k = 0; k < l.as_list().size(); ++k) {
        if (k && sep) r += sep->str();
        r += (attr ? attribute_of(l.as_list()[k], attr->str(), line) : l.as_list()[k]).str();
      }
      return Value(std::move(r));
    }
    if (name == "first" || name == "last") {
      const Value l = to_list(v, line);
      if (l.as_list().empty()) return Value::undefined();
      return name == "first" ? l.as_list().front() : l.as_list().back();
    }
    if (name == "list") return Value::list(to_list(v, line).as_list());
    if (name == "reverse") {
      if (v.is_string()) {
        const Value chars = to_list(v, line);
        std::string r;
        for (auto it = chars.as_list().rbegin(); it != chars.as_list().rend(); ++it)
          r += it->as_string();
        return Value(std::move(r));
      }
      List l = to_list(v, line).as_list();
      std::reverse(l.begin(), l.end());
      return Value::list(std::move(l));
    }
    if (name == "items") {
      if (v.is_undefined()) return Value::list();
      if (!v.is_dict()) throw Error("items expects a mapping");
      return method(v, "items").as_function()(Args{});
    }
    if (name == "dictsort") {
      if (!v.is_dict()) throw Error("dictsort expects a mapping");
      List l = method(v, "items").as_function()(Args{}).as_list();
      std::stable_sort(l.begin(), l.end(), [&](const Value& x, const Value& y) {
        return compare(x.as_list()[0], y.as_list()[0], line) < 0;
      });
      return Value::list(std::move(l));
    }
    if (name == "sort") {
      const Value* rev = opt(0, "reverse");
      const Value* attr = opt(2, "attribute");
      List l = to_list(v, line).as_list();
      std::stable_sort(l.begin(), l.end(), [&](const Value& x, const Value& y) {
        const Value kx = attr ? attribute_of(x, attr->str(), line) : x;
        const Value ky = attr ? attribute_of(y, attr->str(), line) : y;
        return compare(kx, ky, line) < 0;
      });
      if (rev && rev->truthy()) std::reverse(l.begin(), l.end());
      return Value::list(std::move(l));
    }
    if (name == "unique") {
      List out;
      for (const Value& x : to_list(v, line).as_list())
        if (std::none_of(out.begin(), out.end(), [&](const Value& y) { return equal(x, y); }))
          out.push_back(x);
      return Value::list(std::move(out));
    }
    if (name == "map") {
      List out;
      const Value* attr = opt(99, "attribute");
      for (const Value& x : to_list(v, line).as_list()) {
        if (attr) {
          Value r = attribute_of(x, attr->str(), line);
          const Value* dflt = opt(99, "default");
          out.push_back(r.is_undefined() && dflt ? *dflt : r);
        } else {
          if (a.pos.empty()) throw Error("map needs a filter name or attribute=");
          Args rest;
          rest.pos.assign(a.pos.begin() + 1, a.pos.end());
          out.push_back(filter(a.pos[0].str(), x, rest, line));
        }
      }
      return Value::list(std::move(out));
    }
    if (name == "select" || name == "reject" || name == "selectattr" || name == "rejectattr") {
      const bool by_attr = name.size() > 6;
      const bool want = name[0] == 's';
      List out;
      const size_t tpos = by_attr ? 1 : 0;
      for (const Value& x : to_list(v, line).as_list()) {
        const Value subject = by_attr ? attribute_of(x, a.pos.at(0).str(), line) : x;
        bool ok;
        if (a.pos.size() > tpos) {
          Args rest;
          rest.pos.assign(a.pos.begin() + tpos + 1, a.pos.end());
          ok = test(a.pos[tpos].str(), subject, rest, line);
        } else {
          ok = subject.truthy();
        }
        if (ok == want) out.push_back(x);
      }
      return Value::list(std::move(out));
    }
    if (name == "int") {
      if (v.is_int()) return Value(v.as_int());
      if (v.type() == Value::Type::kFloat) return Value(static_cast<int64_t>(v.as_float()));
      try {
        return Value(static_cast<int64_t>(std::stoll(py_strip(v.str(), nullptr, true, true))));
      } catch (const std::exception&) {
        const Value* d = opt(0, "default");
        return d ? *d : Value(static_cast<int64_t>(0));
      }
    }
    if (name == "float") {
      if (v.is_number()) return Value(v.as_float());
      try {
        return Value(std::stod(v.str()));
      } catch (const std::exception&) {
        const Value* d = opt(0, "default");
        return d ? *d : Value(0.0);
      }
    }
    if (name == "abs") {
      if (v.type() == Value::Type::kFloat) return Value(std::fabs(v.as_float()));
      if (v.is_int()) return Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
      throw Error("abs expects a number");
    }
    if (name == "round") {
      const Value* p = opt(0, "precision");
      const double scale = std::pow(10.0, p ? static_cast<double>(p->as_int()) : 0.0);
      return Value(std::round(v.as_float() * scale) / scale);
    }
    if (name == "indent") {
      const Value* w = opt(0, "width");
      const Value* first = opt(1, "first");
      const Value* blank = opt(2, "blank");
      const std::string pad =
          w && w->is_string() ? w->as_string() : std::string(w ? w->as_int() : 4, ' ');
      const std::string s = v.str();
      std::string r;
      size_t p = 0;
      bool is_first = true;
      while (p <= s.size()) {
        size_t q = s.find('\n', p);
        const bool last = q == std::string::npos;
        if (last) q = s.size();
        const std::string lineText = s.substr(p, q - p);
        const bool add = is_first ? (first && first->truthy())
                                  : (!lineText.empty() || (blank && blank->truthy()));
        if (add) r += pad;
        r += lineText;
        if (!last) r += '\n';
        is_first = false;
        if (last) break;
        p = q + 1;
      }
      return Value(std::move(r));
    }
    if (name == "max" || name == "min" || name == "sum") {
      const List l = to_list(v, line).as_list();
      if (name == "sum") {
        Value acc(static_cast<int64_t>(0));
        for (const Value& x : l) {
          if (!x.is_number()) throw Error("sum of non-numbers");
          acc = acc.type() == Value::Type::kFloat || x.type() == Value::Type::kFloat
                    ? Value(acc.as_float() + x.as_float())
                    : Value(acc.as_int() + x.as_int());
        }
        return acc;
      }
      if (l.empty()) return Value::undefined();
      Value best = l[0];
      for (const Value& x : l)
        if ((compare(x, best, line) < 0) == (name == "min") && !equal(x, best)) best = x;
      return best;
    }
    if (name == "wordcount")
      return Value(static_cast<int64_t>(py_split(v.str(), nullptr, -1, false).as_list().size()));
    if (name == "attr") return get_attr(v, a.pos.at(0).str(), line);
    if (name == "batch") {
      const int64_t n = a.pos.at(0).as_int();
      if (n <= 0) throw Error("batch size must be positive");
      List out, cur;
      for (const Value& x : to_list(v, line).as_list()) {
        cur.push_back(x);
        if (static_cast<int64_t>(cur.size()) == n) {
          out.push_back(Value::list(std::move(cur)));
          cur.clear();
        }
      }
      if (!cur.empty()) out.push_back(Value::list(std::move(cur)));
      return Value::list(std::move(out));
    }
    fail(line, cat("unknown filter '", name, "'"));
  }

  const Value& ctx_;
  const Limits& lim_;
  std::string out_;
  size_t steps_ = 0;
  int call_depth_ = 0;
  int loop_depth_ = 0;
  std::vector<std::shared_ptr<Frame>> scopes_;
};

}  // namespace

Template::Template(const std::string& source) {
  auto p = std::make_shared<Program>();
  try {
    p->body = parse(source);
  } catch (const Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(cat("chat template: ", e.what()));
  }
  program_ = std::move(p);
}

Template::~Template() = default;
Template::Template(Template&&) noexcept = default;
Template& Template::operator=(Template&&) noexcept = default;

std::string Template::render(const Value& context, const Limits& limits) const {
  if (!context.is_dict()) throw Error("chat template: the context must be a dict");
  Interp interp(context, limits);
  try {
    return interp.run(program_->body);
  } catch (const Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    // A builtin given too few arguments, and the like.
    throw Error(cat("chat template: ", e.what()));
  }
}

}  // namespace ds::jinja
