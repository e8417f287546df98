#include "tokenizer/jinja/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "core/error.h"

namespace ds::jinja {

const Value* Args::get(size_t index, std::string_view name) const {
  for (const auto& [k, v] : kw)
    if (k == name) return &v;
  return index < pos.size() ? &pos[index] : nullptr;
}

Value Value::undefined(std::string name) {
  Value v;
  v.str_ = std::move(name);
  return v;
}

Value Value::none() {
  Value v;
  v.type_ = Type::kNone;
  return v;
}

namespace {

template <typename Items, typename Get>
int nested_depth(const Items& items, Get get) {
  int d = 0;
  for (const auto& it : items) d = std::max(d, get(it).depth());
  if (d + 1 > kMaxDepth) throw Error("chat template: value nested too deeply");
  return d + 1;
}

}  // namespace

Value Value::list(List items) {
  Value v;
  v.type_ = Type::kList;
  v.depth_ = nested_depth(items, [](const Value& x) -> const Value& { return x; });
  v.list_ = std::make_shared<List>(std::move(items));
  return v;
}

Value Value::tuple(List items) {
  Value v = list(std::move(items));
  v.namespace_ = true;
  return v;
}

Value Value::dict(Dict items, bool is_namespace) {
  Value v;
  v.type_ = Type::kDict;
  v.namespace_ = is_namespace;
  v.depth_ = nested_depth(items, [](const auto& kv) -> const Value& { return kv.second; });
  v.dict_ = std::make_shared<Dict>(std::move(items));
  return v;
}

Value Value::function(std::string name, Function fn) {
  Value v;
  v.type_ = Type::kFunction;
  v.str_ = std::move(name);
  v.fn_ = std::make_shared<Function>(std::move(fn));
  return v;
}

Value Value::from_json(const nlohmann::ordered_json& j, int depth) {
  if (depth > kMaxDepth) throw Error("chat template: JSON input nested too deeply");
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null:
      return none();
    case nlohmann::ordered_json::value_t::boolean:
      return Value(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return Value(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned:
      return Value(static_cast<int64_t>(j.get<uint64_t>()));
    case nlohmann::ordered_json::value_t::number_float:
      return Value(j.get<double>());
    case nlohmann::ordered_json::value_t::string:
      return Value(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      List l;
      l.reserve(j.size());
      for (const auto& e : j) l.push_back(from_json(e, depth + 1));
      return list(std::move(l));
    }
    case nlohmann::ordered_json::value_t::object: {
      Dict d;
      d.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it)
        d.emplace_back(it.key(), from_json(it.value()));
      return dict(std::move(d));
    }
    default:
      throw Error("chat template: unsupported JSON value (binary)");
  }
}

bool Value::truthy() const {
  switch (type_) {
    case Type::kUndefined:
    case Type::kNone:
      return false;
    case Type::kBool:
    case Type::kInt:
      return int_ != 0;
    case Type::kFloat:
      return float_ != 0;
    case Type::kString:
      return !str_.empty();
    case Type::kList:
      return !list_->empty();
    case Type::kDict:
      return namespace_ || !dict_->empty();
    case Type::kFunction:
      return true;
  }
  return false;
}

std::string float_repr(double f) {
  if (std::isnan(f)) return "nan";
  if (std::isinf(f)) return f > 0 ? "inf" : "-inf";
  if (f == 0) return std::signbit(f) ? "-0.0" : "0.0";
  // Shortest round-trip digits, then Python's layout: fixed for 1e-4 <= |f| < 1e16.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), f, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  const size_t e_pos = sci.find('e');
  std::string mant = sci.substr(0, e_pos);
  const int exp = std::stoi(sci.substr(e_pos + 1));
  const bool neg = mant[0] == '-';
  if (neg) mant.erase(0, 1);
  std::string digits;
  for (char c : mant)
    if (c != '.') digits += c;
  std::string out = neg ? "-" : "";
  if (exp >= -4 && exp < 16) {
    if (exp < 0) {
      out += "0." + std::string(-exp - 1, '0') + digits;
    } else if (static_cast<size_t>(exp) + 1 >= digits.size()) {
      out += digits + std::string(exp + 1 - digits.size(), '0') + ".0";
    } else {
      out += digits.substr(0, exp + 1) + "." + digits.substr(exp + 1);
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  char e[16];
  std::snprintf(e, sizeof(e), "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
  return out + e;
}

size_t code_point_count(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string Value::str() const {
  switch (type_) {
    case Type::kUndefined:
      return "";
    case Type::kNone:
      return "None";
    case Type::kBool:
      return int_ ? "True" : "False";
    case Type::kInt:
      return std::to_string(int_);
    case Type::kFloat:
      return float_repr(float_);
    case Type::kString:
      return str_;
    default:
      return repr();
  }
}

namespace {

std::string py_string_repr(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char q = has_single && !has_double ? '"' : '\'';
  std::string out(1, q);
  for (unsigned char c : s) {
    if (c == q || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F) {
      char b[8];
      std::snprintf(b, sizeof(b), "\\x%02x", c);
      out += b;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + q;
}

void json_string(const std::string& s, std::string& out) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          char b[8];
          std::snprintf(b, sizeof(b), "\\u%04x", c);
          out += b;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void to_json_impl(const Value& v, int indent, bool sort_keys, int depth, std::string& out) {
  if (depth > kMaxDepth) throw Error("tojson: value nested too deeply");
  const std::string nl = indent >= 0 ? "\n" + std::string((depth + 1) * indent, ' ') : "";
  const std::string nl_end = indent >= 0 ? "\n" + std::string(depth * indent, ' ') : "";
  const char* item_sep = indent >= 0 ? "," : ", ";
  switch (v.type()) {
    case Value::Type::kNone:
      out += "null";
      return;
    case Value::Type::kBool:
      out += v.as_bool() ? "true" : "false";
      return;
    case Value::Type::kInt:
      out += std::to_string(v.as_int());
      return;
    case Value::Type::kFloat: {
      const double f = v.as_float();
      out += std::isnan(f)   ? "NaN"
             : std::isinf(f) ? (f > 0 ? "Infinity" : "-Infinity")
                             : float_repr(f);
      return;
    }
    case Value::Type::kString:
      json_string(v.as_string(), out);
      return;
    case Value::Type::kList: {
      const List& l = v.as_list();
      if (l.empty()) {
        out += "[]";
        return;
      }
      out += "[";
      for (size_t i = 0; i < l.size(); ++i) {
        if (i) out += item_sep;
        out += nl;
        to_json_impl(l[i], indent, sort_keys, depth + 1, out);
      }
      out += nl_end + "]";
      return;
    }
    case Value::Type::kDict: {
      std::vector<const std::pair<std::string, Value>*> items;
      for (const auto& kv : v.as_dict()) items.push_back(&kv);
      if (items.empty()) {
        out += "{}";
        return;
      }
      if (sort_keys)
        std::sort(items.begin(), items.end(), [](auto* a, auto* b) { return a->first < b->first; });
      out += "{";
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += item_sep;
        out += nl;
        json_string(items[i]->first, out);
        out += ": ";
        to_json_impl(items[i]->second, indent, sort_keys, depth + 1, out);
      }
      out += nl_end + "}";
      return;
    }
    default:
      throw Error(cat("tojson: object of type ", v.type_name(), " is not JSON serializable"));
  }
}

}  // namespace

std::string Value::repr(int depth) const {
  if (depth > kMaxDepth) throw Error("value nested too deeply to print");
  switch (type_) {
    case Type::kString:
      return py_string_repr(str_);
    case Type::kList: {
      std::string out = namespace_ ? "(" : "[";
      for (size_t i = 0; i < list_->size(); ++i) {
        if (i) out += ", ";
        out += (*list_)[i].repr(depth + 1);
      }
      if (namespace_ && list_->size() == 1) out += ",";
      return out + (namespace_ ? ")" : "]");
    }
    case Type::kDict: {
      if (namespace_) return "<Namespace>";
      std::string out = "{";
      for (size_t i = 0; i < dict_->size(); ++i) {
        if (i) out += ", ";
        out += py_string_repr((*dict_)[i].first) + ": " + (*dict_)[i].second.repr(depth + 1);
      }
      return out + "}";
    }
    case Type::kFunction:
      return "<function " + str_ + ">";
    case Type::kUndefined:
      return "Undefined";
    default:
      return str();
  }
}

std::string Value::to_json(int indent, bool sort_keys) const {
  std::string out;
  to_json_impl(*this, indent, sort_keys, 0, out);
  return out;
}

std::string Value::type_name() const {
  switch (type_) {
    case Type::kUndefined:
      return "Undefined";
    case Type::kNone:
      return "NoneType";
    case Type::kBool:
      return "bool";
    case Type::kInt:
      return "int";
    case Type::kFloat:
      return "float";
    case Type::kString:
      return "str";
    case Type::kList:
      return "list";
    case Type::kDict:
      return namespace_ ? "Namespace" : "dict";
    case Type::kFunction:
      return "function";
  }
  return "?";
}

const Value* Value::find(std::string_view key) const {
  if (type_ != Type::kDict) return nullptr;
  for (const auto& kv : *dict_)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

void Value::set(const std::string& key, Value v) const {
  if (v.depth_ + 1 > kMaxDepth) throw Error("chat template: value nested too deeply");
  for (auto& kv : *dict_)
    if (kv.first == key) {
      kv.second = std::move(v);
      return;
    }
  dict_->emplace_back(key, std::move(v));
}

bool equal(const Value& a, const Value& b, int depth) {
  if (depth > kMaxDepth) throw Error("values nested too deeply to compare");
  if (a.is_number() && b.is_number()) {
    if (a.type() == Value::Type::kFloat || b.type() == Value::Type::kFloat)
      return a.as_float() == b.as_float();
    return a.as_int() == b.as_int();
  }
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case Value::Type::kUndefined:
    case Value::Type::kNone:
      return true;
    case Value::Type::kString:
      return a.as_string() == b.as_string();
    case Value::Type::kList: {
      const List &x = a.as_list(), &y = b.as_list();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i)
        if (!equal(x[i], y[i], depth + 1)) return false;
      return true;
    }
    case Value::Type::kDict: {
      if (&a.as_dict() == &b.as_dict()) return true;
      if (a.is_namespace() || b.is_namespace()) return false;
      const Dict &x = a.as_dict(), &y = b.as_dict();
      if (x.size() != y.size()) return false;
      for (const auto& [k, v] : x) {
        const Value* o = b.find(k);
        if (!o || !equal(v, *o, depth + 1)) return false;
      }
      return true;
    }
    case Value::Type::kFunction:
      return &a.as_function() == &b.as_function();
    default:
      return false;
  }
}

}  // namespace ds::jinja
