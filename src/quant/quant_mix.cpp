#include "quant/quant_mix.h"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "core/error.h"
#include "quant/quant.h"

namespace ds {

namespace {

using T = GgmlType;
using F = FileType;

struct FileTypeInfo {
  FileType ftype;
  const char* name;
  GgmlType base;
};

constexpr FileTypeInfo kFileTypes[] = {
    {F::kF32, "f32", T::F32},          {F::kF16, "f16", T::F16},
    {F::kBF16, "bf16", T::BF16},       {F::kQ8_0, "q8_0", T::Q8_0},
    {F::kQ4_0, "q4_0", T::Q4_0},       {F::kQ4_1, "q4_1", T::Q4_1},
    {F::kQ5_0, "q5_0", T::Q5_0},       {F::kQ5_1, "q5_1", T::Q5_1},
    {F::kQ2_K, "q2_k", T::Q2_K},       {F::kQ3_K_S, "q3_k_s", T::Q3_K},
    {F::kQ3_K_M, "q3_k_m", T::Q3_K},   {F::kQ3_K_L, "q3_k_l", T::Q3_K},
    {F::kQ4_K_S, "q4_k_s", T::Q4_K},   {F::kQ4_K_M, "q4_k_m", T::Q4_K},
    {F::kQ5_K_S, "q5_k_s", T::Q5_K},   {F::kQ5_K_M, "q5_k_m", T::Q5_K},
    {F::kQ6_K, "q6_k", T::Q6_K},       {F::kIQ4_NL, "iq4_nl", T::IQ4_NL},
    {F::kIQ4_XS, "iq4_xs", T::IQ4_XS},
};

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& ch : r) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  return r;
}

const FileTypeInfo& info(FileType t) {
  for (const auto& i : kFileTypes)
    if (i.ftype == t) return i;
  DS_CHECK(false, "unknown file type ", uint32_t(t));
  return kFileTypes[0];
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
bool contains(const std::string& s, std::string_view what) {
  return s.find(what) != std::string::npos;
}

// llama-quant.cpp's tensor categories.
enum class Category {
  kOutput,
  kTokenEmbd,
  kAttnKvB,
  kAttnQ,
  kAttnOutput,
  kFfnUp,
  kFfnGate,
  kFfnDown,
  kOther
};

Category category(const std::string& n) {
  if (n == "output.weight") return Category::kOutput;
  if (n == "token_embd.weight") return Category::kTokenEmbd;
  if (contains(n, "attn_kv_b.weight")) return Category::kAttnKvB;
  if (contains(n, "attn_q.weight")) return Category::kAttnQ;
  if (contains(n, "attn_output.weight")) return Category::kAttnOutput;
  if (contains(n, "ffn_up")) return Category::kFfnUp;
  if (contains(n, "ffn_gate")) return Category::kFfnGate;
  if (contains(n, "ffn_down")) return Category::kFfnDown;
  return Category::kOther;
}

// llama.cpp quantises 2-D and 3-D `*weight` tensors except norms and the expert router.
bool allows_quantization(const std::string& n, const std::vector<int64_t>& ne) {
  int64_t n_dims = int64_t(ne.size());
  while (n_dims > 1 && ne[size_t(n_dims - 1)] == 1) --n_dims;
  if (n_dims < 2) return false;
  return ends_with(n, "weight") && !contains(n, "_norm.weight") &&
         !contains(n, "ffn_gate_inp.weight");
}

bool use_more_bits(int i_layer, int n_layers) {
  return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

int layer_of(const std::string& name, int fallback) {
  int il = fallback;
  if (std::sscanf(name.c_str(), "blk.%d.", &il) != 1) return fallback;
  return il;
}

}  // namespace

FileType parse_file_type(std::string_view name) {
  const std::string n = lower(name);
  for (const auto& i : kFileTypes)
    if (n == i.name) return i.ftype;
  std::string known;
  for (const auto& i : kFileTypes) known += (known.empty() ? "" : ", ") + std::string(i.name);
  throw Error(cat("unknown quantisation type '", name, "' (known: ", known, ")"));
}

std::string_view file_type_name(FileType t) {
  return info(t).name;
}

GgmlType file_type_default(FileType t) {
  return info(t).base;
}

GgmlType parse_ggml_type(std::string_view name) {
  const std::string n = lower(name);
  for (uint32_t id = 0; id < 64; ++id) {
    GgmlType t;
    if (!ggml_type_from_id(id, &t)) continue;
    const QuantTraits* q = quant_traits(t);
    if (q && q->quantize && lower(q->name) == n && t != T::Q8_1 && t != T::Q8_K) return t;
  }
  throw Error(cat("unknown or unwritable tensor type '", name,
                  "' (e.g. f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_K, q3_K, q4_K, q5_K, "
                  "q6_K, iq4_nl, iq4_xs)"));
}

GgmlType fallback_type(GgmlType t, int64_t n_cols) {
  if (n_cols % ggml_block_size(t) == 0) return t;
  GgmlType r = t;
  switch (t) {
    case T::IQ4_XS:
      r = T::IQ4_NL;
      break;
    case T::Q2_K:
    case T::Q3_K:
      r = T::Q4_0;
      break;
    case T::Q4_K:
      r = T::Q5_0;
      break;
    case T::Q5_K:
      r = T::Q5_1;
      break;
    case T::Q6_K:
      r = T::Q8_0;
      break;
    default:
      break;  // a 32-block type: nothing smaller to demote to
  }
  if (n_cols % ggml_block_size(r) != 0) r = T::F16;
  return r;
}

TypeOverride TypeOverride::parse(std::string_view spec) {
  const size_t eq = spec.rfind('=');
  if (eq == std::string_view::npos || eq == 0 || eq + 1 == spec.size())
    throw Error(cat("--override '", spec, "': expected PATTERN=TYPE"));
  TypeOverride o;
  o.pattern = std::string(spec.substr(0, eq));
  o.type = parse_ggml_type(spec.substr(eq + 1));
  try {
    o.regex_ = std::regex(o.pattern);
    o.has_regex_ = true;
  } catch (const std::regex_error&) {
    o.has_regex_ = false;  // e.g. "*exps*": a glob only
  }
  return o;
}

bool TypeOverride::matches(const std::string& tensor_name) const {
  if (fnmatch(pattern.c_str(), tensor_name.c_str(), 0) == 0) return true;
  return has_regex_ && std::regex_search(tensor_name, regex_);
}

TypeChooser::TypeChooser(FileType ftype, ModelShape shape, const std::vector<std::string>& names,
                         std::vector<TypeOverride> overrides)
    : ftype_(ftype), shape_(shape), overrides_(std::move(overrides)) {
  for (const auto& n : names) {
    if (category(n) == Category::kAttnKvB) ++n_attention_wv_;
    if (n == "output.weight") tied_embeddings_ = false;
  }
}

GgmlType TypeChooser::choose(const std::string& name, const std::vector<int64_t>& ne,
                             std::string* fallback_note) {
  if (!allows_quantization(name, ne)) return T::F32;
  GgmlType t = file_type_default(ftype_);
  bool manual = false;
  for (const auto& o : overrides_) {
    if (o.matches(name)) {
      t = o.type;
      manual = true;
      break;
    }
  }
  const bool quantized = quant_traits(file_type_default(ftype_))->is_quantized;
  if (!manual && quantized) t = mix(t, name, ne);
  const GgmlType f = fallback_type(t, ne[0]);
  if (f != t && fallback_note)
    *fallback_note = cat(name, ": rows of ", ne[0], " are not a multiple of ", ggml_block_size(t),
                         " (", ggml_type_name(t), "), using ", ggml_type_name(f));
  return f;
}

// llama_tensor_get_type_impl for the file types dsinfer writes and the tensors of deepseek2.
GgmlType TypeChooser::mix(GgmlType t, const std::string& name, const std::vector<int64_t>& ne) {
  const FileType f = ftype_;
  const Category cat = category(name);
  const int n_layer = int(shape_.n_layer_all);
  if (cat == Category::kOutput || (tied_embeddings_ && cat == Category::kTokenEmbd)) {
    if (ne[0] % ggml_block_size(t) != 0) return T::Q8_0;
    return t != T::Q8_0 ? T::Q6_K : t;
  }
  if (cat == Category::kAttnKvB) {  // llama.cpp's "attn_v-like" tensors
    if (f == F::kQ2_K)
      t = shape_.n_gqa >= 4 ? T::Q4_K : T::Q3_K;
    else if (f == F::kQ3_K_M)
      t = i_attention_wv_ < 2 ? T::Q5_K : T::Q4_K;
    else if (f == F::kQ3_K_L)
      t = T::Q5_K;
    else if ((f == F::kIQ4_NL || f == F::kIQ4_XS) && shape_.n_gqa >= 4)
      t = T::Q5_K;
    else if ((f == F::kQ4_K_M || f == F::kQ5_K_M) &&
             use_more_bits(i_attention_wv_, n_attention_wv_))
      t = T::Q6_K;
    else if (f == F::kQ4_K_S && i_attention_wv_ < 4)
      t = T::Q5_K;
    if (shape_.n_expert == 8) t = T::Q8_0;
    ++i_attention_wv_;
    return t;
  }
  if (cat == Category::kFfnDown) {
    const int il = layer_of(name, 0);
    if (f == F::kQ2_K)
      t = T::Q3_K;
    else if (f == F::kQ3_K_M)
      t = il < n_layer / 16 ? T::Q5_K : T::Q4_K;
    else if (f == F::kQ3_K_L)
      t = T::Q5_K;
    else if (f == F::kQ4_K_M) {
      if (use_more_bits(il, n_layer)) t = T::Q6_K;
    } else if (il < n_layer / 8 && (f == F::kIQ4_NL || f == F::kIQ4_XS))
      t = T::Q5_K;
    else if (f == F::kQ5_K_M && use_more_bits(il, n_layer))
      t = T::Q6_K;
    else if (f == F::kQ4_K_S && il < n_layer / 8)
      t = T::Q5_K;
    return t;
  }
  if (cat == Category::kAttnOutput) {
    if (shape_.n_expert == 8) {
      if (f == F::kQ2_K || f == F::kQ3_K_S || f == F::kQ3_K_M || f == F::kIQ4_NL ||
          f == F::kQ4_K_S || f == F::kQ4_K_M || f == F::kIQ4_XS)
        t = T::Q5_K;
    } else if (f == F::kQ2_K) {
      t = T::Q3_K;
    } else if (f == F::kQ3_K_M) {
      t = T::Q4_K;
    } else if (f == F::kQ3_K_L) {
      t = T::Q5_K;
    }
    return t;
  }
  return t;
}

}  // namespace ds
