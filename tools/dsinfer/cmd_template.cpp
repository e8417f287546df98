// dsinfer template: render a chat template for a messages file, printed exactly.
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "command.h"
#include "core/error.h"
#include "tokenizer/chat_template.h"

namespace ds::cli {
namespace {

struct TemplateOptions {
  std::string tokenizer;
  std::string template_file;
  std::string messages;
  std::string tools;
  std::string extra;
  bool add_generation_prompt = false;
  bool thinking = false;
};

nlohmann::ordered_json read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(cat("cannot open '", path, "'"));
  std::ostringstream ss;
  ss << in.rdbuf();
  try {
    return nlohmann::ordered_json::parse(ss.str());
  } catch (const nlohmann::json::exception& e) {
    throw Error(cat(path, ": not valid JSON: ", e.what()));
  }
}

int run_template(const TemplateOptions& o) {
  ChatTemplate tmpl = [&] {
    if (o.template_file.empty()) return ChatTemplate::from_tokenizer_config(o.tokenizer);
    std::ifstream in(o.template_file, std::ios::binary);
    if (!in) throw Error(cat("cannot open '", o.template_file, "'"));
    std::ostringstream ss;
    ss << in.rdbuf();
    ChatTemplate t(ss.str());
    // Special tokens still come from the tokenizer's config when one is given.
    if (!o.tokenizer.empty()) t.load_special_tokens(o.tokenizer);
    return t;
  }();
  nlohmann::ordered_json messages = read_json(o.messages);
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();
  if (messages.is_object()) {
    // Also accept {"messages": [...], "tools": [...], ...}.
    for (auto it = messages.begin(); it != messages.end(); ++it)
      if (it.key() != "messages") extra[it.key()] = it.value();
    if (!messages.contains("messages")) throw Error(cat(o.messages, ": no \"messages\" array"));
    messages = nlohmann::ordered_json(messages["messages"]);
  }
  if (!o.extra.empty()) {
    const auto e = read_json(o.extra);
    if (!e.is_object()) throw Error(cat(o.extra, ": expected a JSON object"));
    for (auto it = e.begin(); it != e.end(); ++it) extra[it.key()] = it.value();
  }
  if (!o.tools.empty()) extra["tools"] = read_json(o.tools);
  if (o.thinking) extra["thinking"] = true;
  const std::string text = tmpl.render(messages, o.add_generation_prompt, extra);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

const Registrar kRegister{Command{
    "template", "Render the chat template of a model for a messages file (printed as is)",
    [](CLI::App& app) -> std::function<int()> {
      auto o = std::make_shared<TemplateOptions>();
      app.add_option("--tokenizer", o->tokenizer,
                     "Model directory, tokenizer.json or tokenizer_config.json");
      app.add_option("--template", o->template_file, "A .jinja file to use instead");
      app.add_option("--messages", o->messages, "JSON file: an OpenAI-style messages array")
          ->required();
      app.add_option("--tools", o->tools, "JSON file: the tools array");
      app.add_option("--extra", o->extra, "JSON file: an object of more template variables");
      app.add_flag("--add-generation-prompt", o->add_generation_prompt,
                   "End with the assistant prompt");
      app.add_flag("--thinking", o->thinking, "Set thinking = true (V3.1 and later)");
      return [o] {
        if (o->tokenizer.empty() && o->template_file.empty())
          throw Error("template: give --tokenizer or --template");
        return run_template(*o);
      };
    },
    41}};

}  // namespace
}  // namespace ds::cli
