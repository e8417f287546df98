#include "io/embedded_model.h"

// With an embedded model, CMake generates embedded_model_data.inc: .incbin of each file
// into read-only data (the assembler copies the bytes; no code generator or hex dump).
#ifdef DSINFER_EMBEDDED_MODEL_INC
#include DSINFER_EMBEDDED_MODEL_INC
#endif

namespace ds {

const EmbeddedModel* embedded_model() {
#ifdef DSINFER_EMBEDDED_MODEL_INC
  static const EmbeddedModel m = [] {
    auto file = [](const uint8_t* b, const uint8_t* e) { return EmbeddedFile{b, size_t(e - b)}; };
    EmbeddedModel r;
    r.name = DSINFER_EMBEDDED_MODEL_NAME;
    r.config = file(ds_emb_config, ds_emb_config_end);
    r.weights = file(ds_emb_weights, ds_emb_weights_end);
    r.tokenizer = file(ds_emb_tokenizer, ds_emb_tokenizer_end);
    r.tokenizer_config = file(ds_emb_tokenizer_config, ds_emb_tokenizer_config_end);
    return r;
  }();
  return &m;
#else
  return nullptr;
#endif
}

}  // namespace ds
