// Values of the Jinja subset: Python's types as chat templates see them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ds::jinja {

class Value;
using List = std::vector<Value>;
/// A dict keeps insertion order, like Python's; keys are strings.
using Dict = std::vector<std::pair<std::string, Value>>;

/// Arguments of a call: positional, then keyword.
struct Args {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
  /// The argument at `index` or named `name`, or nullptr.
  const Value* get(size_t index, std::string_view name) const;
};
using Function = std::function<Value(const Args&)>;

/// A dynamically typed value. Lists, dicts and namespaces are shared by reference (as in
/// Python); everything else is copied.
class Value {
 public:
  enum class Type { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kFunction };

  /// An undefined value (a missing variable or key).
  Value() = default;
  /// An undefined value that remembers the name it was looked up by.
  static Value undefined(std::string name = {});
  /// Python None.
  static Value none();
  // Scalars convert implicitly, as literals do in Python.
  Value(bool b) : type_(Type::kBool), int_(b) {}                      // NOLINT
  Value(int64_t i) : type_(Type::kInt), int_(i) {}                    // NOLINT
  Value(int i) : type_(Type::kInt), int_(i) {}                        // NOLINT
  Value(double f) : type_(Type::kFloat), float_(f) {}                 // NOLINT
  Value(std::string s) : type_(Type::kString), str_(std::move(s)) {}  // NOLINT
  Value(const char* s) : type_(Type::kString), str_(s) {}             // NOLINT
  /// A list (shared by reference).
  static Value list(List items = {});
  /// A tuple: a list that prints with parentheses.
  static Value tuple(List items);
  /// A dict, or a namespace() whose attributes `set` may assign.
  static Value dict(Dict items = {}, bool is_namespace = false);
  /// A callable (builtin, macro or bound method).
  static Value function(std::string name, Function fn);
  /// Converts JSON (objects keep their order when `j` is an ordered_json). Throws ds::Error
  /// for data nested deeper than kMaxDepth.
  static Value from_json(const nlohmann::ordered_json& j, int depth = 0);

  /// The dynamic type; the is_* helpers test it (bools count as ints, as in Python).
  Type type() const { return type_; }
  bool is_undefined() const { return type_ == Type::kUndefined; }
  bool is_none() const { return type_ == Type::kNone; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_int() const { return type_ == Type::kInt || type_ == Type::kBool; }
  bool is_number() const { return is_int() || type_ == Type::kFloat; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_list() const { return type_ == Type::kList; }
  bool is_dict() const { return type_ == Type::kDict; }
  bool is_namespace() const { return type_ == Type::kDict && namespace_; }
  bool is_tuple() const { return type_ == Type::kList && namespace_; }
  bool is_function() const { return type_ == Type::kFunction; }

  /// The payload; only valid for the matching type.
  bool as_bool() const { return int_ != 0; }
  int64_t as_int() const { return int_; }
  double as_float() const { return type_ == Type::kFloat ? float_ : static_cast<double>(int_); }
  const std::string& as_string() const { return str_; }
  List& as_list() const { return *list_; }
  Dict& as_dict() const { return *dict_; }
  const Function& as_function() const { return *fn_; }
  /// For an undefined value: the name it was looked up by, for error messages.
  const std::string& name() const { return str_; }

  /// Python truthiness.
  bool truthy() const;
  /// Python str(): what {{ value }} prints (undefined prints nothing).
  std::string str() const;
  /// Python repr(), used inside str() of containers.
  std::string repr(int depth = 0) const;
  /// json.dumps(value, ensure_ascii=False, indent=indent, sort_keys=sort_keys).
  std::string to_json(int indent = -1, bool sort_keys = false) const;
  /// Python's name of the type, for error messages.
  std::string type_name() const;

  /// The dict entry `key`, or nullptr.
  const Value* find(std::string_view key) const;
  /// Sets a dict entry, keeping the position of an existing key.
  void set(const std::string& key, Value v) const;
  /// How deeply containers nest inside this value (0 for scalars).
  int depth() const { return depth_; }

 private:
  Type type_ = Type::kUndefined;
  bool namespace_ = false;  // dicts: a namespace(); lists: a tuple
  int depth_ = 0;           // bounded by kMaxDepth so that walks and destruction cannot overflow
  int64_t int_ = 0;
  double float_ = 0;
  std::string str_;
  std::shared_ptr<List> list_;
  std::shared_ptr<Dict> dict_;
  std::shared_ptr<Function> fn_;
};

/// Containers nested deeper than this are rejected (the walks over them recurse).
constexpr int kMaxDepth = 512;

/// Python ==.
bool equal(const Value& a, const Value& b, int depth = 0);
/// Python repr() of a float: shortest round-trip digits, "1.0", "1e-05", "1e+16".
std::string float_repr(double f);
/// Number of code points in UTF-8 text.
size_t code_point_count(std::string_view s);

}  // namespace ds::jinja
