// The tokenizer as GGUF metadata (`tokenizer.ggml.*`, `tokenizer.chat_template`): written
// from a HF tokenizer.json the way llama.cpp's converter does, and read back into
// TokenizerParts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/gguf_value.h"
#include "tokenizer/tokenizer.h"

namespace ds {

class GgufFile;

/// `tokenizer.ggml.*` and `tokenizer.chat_template` for the HF tokenizer in `dir`
/// (tokenizer.json + tokenizer_config.json), its token list padded with `[PAD{id}]` unused
/// tokens to `vocab_size`. The pre-tokenizer name is the llama.cpp name whose splitting
/// gives the same ids as the tokenizer.json on a check text; throws ds::Error when none does.
std::vector<GgufKv> gguf_tokenizer_metadata(const std::string& dir, int64_t vocab_size);

/// Every `tokenizer.*` key of a GGUF file, to copy into another.
std::vector<GgufKv> gguf_tokenizer_metadata(const GgufFile& f);

/// The tokenizer a GGUF file describes; throws ds::Error when it has none or it is not a
/// byte-level BPE (`tokenizer.ggml.model` = gpt2).
TokenizerParts tokenizer_parts_from_gguf(const GgufFile& f);

/// The pre-tokenizer name for which `parts` encodes like `reference` (empty when none).
std::string detect_pre_tokenizer(const Tokenizer& reference, TokenizerParts parts);

}  // namespace ds
