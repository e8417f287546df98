#include "tokenizer/chat_template.h"

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "core/error.h"

namespace ds {

// Copied from deepseek-ai/DeepSeek-V3's tokenizer_config.json.
const char* const kDeepSeekV3ChatTemplate =
    R"TPL({% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='', is_first_sp=true) %}{%- for message in messages %}{%- if message['role'] == 'system' %}{%- if ns.is_first_sp %}{% set ns.system_prompt = ns.system_prompt + message['content'] %}{% set ns.is_first_sp = false %}{%- else %}{% set ns.system_prompt = ns.system_prompt + '

' + message['content'] %}{%- endif %}{%- endif %}{%- endfor %}{{bos_token}}{{ns.system_prompt}}{%- for message in messages %}{%- if message['role'] == 'user' %}{%- set ns.is_tool = false -%}{{'<｜User｜>' + message['content']}}{%- endif %}{%- if message['role'] == 'assistant' and message['content'] is none %}{%- set ns.is_tool = false -%}{%- for tool in message['tool_calls']%}{%- if not ns.is_first %}{{'<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '
' + '```json' + '
' + tool['function']['arguments'] + '
' + '```' + '<｜tool▁call▁end｜>'}}{%- set ns.is_first = true -%}{%- else %}{{'
' + '<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '
' + '```json' + '
' + tool['function']['arguments'] + '
' + '```' + '<｜tool▁call▁end｜>'}}{{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}{%- endif %}{%- endfor %}{%- endif %}{%- if message['role'] == 'assistant' and message['content'] is not none %}{%- if ns.is_tool %}{{'<｜tool▁outputs▁end｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}{%- set ns.is_tool = false -%}{%- else %}{{'<｜Assistant｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endif %}{%- if message['role'] == 'tool' %}{%- set ns.is_tool = true -%}{%- if ns.is_output_first %}{{'<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- set ns.is_output_first = false %}{%- else %}{{'
<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- endif %}{%- endif %}{%- endfor -%}{% if ns.is_tool %}{{'<｜tool▁outputs▁end｜>'}}{% endif %}{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜>'}}{% endif %})TPL";

namespace {

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(cat("cannot open '", path, "'"));
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A special token in tokenizer_config.json: a string or an AddedToken object.
std::optional<std::string> token_string(const nlohmann::ordered_json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return v["content"].get<std::string>();
  return std::nullopt;
}

}  // namespace

ChatTemplate::ChatTemplate(std::string source)
    : source_(std::move(source)), template_(std::make_shared<jinja::Template>(source_)) {}

namespace {

std::filesystem::path config_path(const std::string& path) {
  namespace fs = std::filesystem;
  fs::path p = path;
  if (fs::is_directory(p))
    p /= "tokenizer_config.json";
  else if (p.filename() == "tokenizer.json")
    p = p.parent_path() / "tokenizer_config.json";
  if (!fs::exists(p)) throw Error(cat("no tokenizer_config.json at '", path, "'"));
  return p;
}

nlohmann::ordered_json read_config(const std::filesystem::path& p) {
  nlohmann::ordered_json config;
  try {
    config = nlohmann::ordered_json::parse(read_text(p.string()));
  } catch (const nlohmann::json::exception& e) {
    throw Error(cat(p.string(), ": not valid JSON: ", e.what()));
  }
  if (!config.is_object()) throw Error(cat(p.string(), ": expected a JSON object"));
  return config;
}

}  // namespace

ChatTemplate ChatTemplate::from_tokenizer_config(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path p = config_path(path);
  const nlohmann::ordered_json config = read_config(p);
  std::string source;
  const fs::path jinja_file = p.parent_path() / "chat_template.jinja";
  if (fs::exists(jinja_file)) {
    source = read_text(jinja_file.string());
  } else if (config.contains("chat_template") && config["chat_template"].is_string()) {
    source = config["chat_template"].get<std::string>();
  } else if (config.contains("chat_template") && config["chat_template"].is_array()) {
    for (const auto& t : config["chat_template"])
      if (t.is_object() && t.value("name", "") == "default" && t.contains("template"))
        source = t["template"].get<std::string>();
    if (source.empty()) throw Error(cat(p.string(), ": chat_template list has no 'default' entry"));
  } else {
    throw Error(cat(p.string(), ": no chat_template (use ChatTemplate::builtin or pass one)"));
  }
  ChatTemplate t = [&] {
    try {
      return ChatTemplate(source);
    } catch (const Error& e) {
      throw Error(cat(p.string(), ": ", e.what()));
    }
  }();
  t.load_special_tokens(p.string());
  return t;
}

void ChatTemplate::load_special_tokens(const std::string& path) {
  const nlohmann::ordered_json config = read_config(config_path(path));
  for (const char* name : {"bos_token", "eos_token", "unk_token", "pad_token"})
    if (config.contains(name))
      if (auto s = token_string(config[name])) set_special_token(name, *s);
}

ChatTemplate ChatTemplate::builtin(std::string_view model_type) {
  if (model_type == "deepseek_v3") {
    ChatTemplate t(kDeepSeekV3ChatTemplate);
    t.set_special_token("bos_token", "<｜begin▁of▁sentence｜>");
    t.set_special_token("eos_token", "<｜end▁of▁sentence｜>");
    return t;
  }
  throw Error(cat("no built-in chat template for model type '", model_type, "'"));
}

void ChatTemplate::set_special_token(const std::string& name, const std::string& value) {
  special_[name] = value;
}

std::string ChatTemplate::render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                 const nlohmann::ordered_json& extra) const {
  if (!messages.is_array()) throw Error("chat template: messages must be a JSON array");
  // The variables HF's apply_chat_template passes: special tokens, messages, tools and
  // documents (None unless given), add_generation_prompt, then the caller's extras.
  jinja::Value ctx = jinja::Value::dict();
  for (auto it = special_.begin(); it != special_.end(); ++it)
    ctx.set(it.key(), jinja::Value::from_json(it.value()));
  ctx.set("messages", jinja::Value::from_json(messages));
  ctx.set("tools", jinja::Value::none());
  ctx.set("documents", jinja::Value::none());
  ctx.set("add_generation_prompt", jinja::Value(add_generation_prompt));
  if (extra.is_object())
    for (auto it = extra.begin(); it != extra.end(); ++it)
      ctx.set(it.key(), jinja::Value::from_json(it.value()));
  return template_->render(ctx, limits_);
}

std::string ChatTemplate::render(const nlohmann::json& messages, bool add_generation_prompt,
                                 const nlohmann::json& extra) const {
  const nlohmann::ordered_json e = extra.is_null() ? nlohmann::ordered_json::object()
                                                   : nlohmann::ordered_json::parse(extra.dump());
  return render(nlohmann::ordered_json::parse(messages.dump()), add_generation_prompt, e);
}

}  // namespace ds
