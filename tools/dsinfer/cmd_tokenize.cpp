// dsinfer tokenize: token ids of text, one JSON array per input (no BOS added).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "command.h"
#include "core/error.h"
#include "io/gguf.h"
#include "model/gguf_loader.h"
#include "tokenizer/gguf_vocab.h"
#include "tokenizer/tokenizer.h"

namespace ds::cli {
namespace {

struct TokenizeOptions {
  std::string tokenizer;
  std::string jsonl;
  std::string file;
  std::string text;
  bool add_bos = false;
};

void print_ids(const std::vector<int32_t>& ids) {
  std::string line = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) line += ", ";
    line += std::to_string(ids[i]);
  }
  line += "]\n";
  std::fwrite(line.data(), 1, line.size(), stdout);
}

int run_tokenize(const TokenizeOptions& o) {
  const Tokenizer tok =
      is_gguf_path(o.tokenizer)
          ? Tokenizer::from_parts(tokenizer_parts_from_gguf(GgufFile::open(o.tokenizer)))
          : Tokenizer::from_model_dir(o.tokenizer);
  if (!o.jsonl.empty()) {
    std::ifstream in(o.jsonl, std::ios::binary);
    if (!in) throw Error(cat("cannot open '", o.jsonl, "'"));
    std::string line;
    size_t line_no = 0;
    while (std::getline(in, line)) {
      ++line_no;
      if (line.empty() || line == "\r") continue;
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception& e) {
        throw Error(cat(o.jsonl, ":", line_no, ": not valid JSON: ", e.what()));
      }
      if (!j.is_object() || !j.contains("text") || !j["text"].is_string())
        throw Error(cat(o.jsonl, ":", line_no, ": expected an object with a string \"text\""));
      print_ids(tok.encode(j["text"].get_ref<const std::string&>(), o.add_bos));
    }
    return 0;
  }
  std::string text = o.text;
  if (!o.file.empty()) {
    std::ifstream in(o.file, std::ios::binary);
    if (!in) throw Error(cat("cannot open '", o.file, "'"));
    std::ostringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  print_ids(tok.encode(text, o.add_bos));
  return 0;
}

const Registrar kRegister{Command{
    "tokenize", "Print the token ids of text (JSON arrays, no BOS unless --add-bos)",
    [](CLI::App& app) -> std::function<int()> {
      auto o = std::make_shared<TokenizeOptions>();
      app.add_option("--tokenizer", o->tokenizer, "Model directory, tokenizer.json or .gguf file")
          ->required();
      auto* jsonl = app.add_option("--jsonl", o->jsonl, "File of {\"text\": ...} lines");
      auto* file = app.add_option("--file", o->file, "Text file, tokenized whole");
      auto* text = app.add_option("--text", o->text, "Text given on the command line");
      jsonl->excludes(file)->excludes(text);
      file->excludes(text);
      app.add_flag("--add-bos", o->add_bos, "Add BOS as a raw-text prompt would get it");
      return [o] { return run_tokenize(*o); };
    },
    40}};

}  // namespace
}  // namespace ds::cli
