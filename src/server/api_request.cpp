#include "server/api_request.h"

#include <atomic>
#include <cmath>

#include "core/error.h"
#include "runtime/reasoning.h"
#include "server/api_error.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace ds::server {

using nlohmann::json;

namespace {

[[noreturn]] void bad(const std::string& param, const std::string& msg) {
  throw ApiError(400, msg, "invalid_request_error", param);
}

const json* field(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

double number(const json& body, const char* name, double def, double lo, double hi) {
  const json* v = field(body, name);
  if (!v) return def;
  if (!v->is_number()) bad(name, cat("'", name, "' must be a number"));
  const double x = v->get<double>();
  if (!std::isfinite(x) || x < lo || x > hi)
    bad(name, cat("'", name, "' must be between ", lo, " and ", hi, ", got ", v->dump()));
  return x;
}

int64_t integer(const json& body, const char* name, int64_t def, int64_t lo, int64_t hi) {
  const json* v = field(body, name);
  if (!v) return def;
  if (!v->is_number_integer() && !v->is_number_unsigned())
    bad(name, cat("'", name, "' must be an integer"));
  const int64_t x = v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(INT64_MAX)
                        ? INT64_MAX
                        : v->get<int64_t>();
  if (x < lo || x > hi)
    bad(name, cat("'", name, "' must be between ", lo, " and ", hi, ", got ", x));
  return x;
}

bool boolean(const json& body, const char* name, bool def) {
  const json* v = field(body, name);
  if (!v) return def;
  if (!v->is_boolean()) bad(name, cat("'", name, "' must be a boolean"));
  return v->get<bool>();
}

// Message content: a string, or an array of {"type": "text", "text": …} parts.
json content_text(const json& c, const std::string& param, bool allow_null) {
  if (c.is_null()) {
    if (allow_null) return nullptr;
    bad(param, cat("'", param, "' must not be null"));
  }
  if (c.is_string()) return c;
  if (c.is_array()) {
    std::string s;
    for (size_t i = 0; i < c.size(); ++i) {
      const json& p = c[i];
      if (!p.is_object() || p.value("type", "") != "text" || !p.contains("text") ||
          !p["text"].is_string())
        bad(cat(param, "[", i, "]"),
            "only text content parts ({\"type\": \"text\", \"text\": …}) are supported");
      s += p["text"].get<std::string>();
    }
    return s;
  }
  bad(param, cat("'", param, "' must be a string or an array of text parts"));
}

std::string tools_system_prompt(const json& tools) {
  // The wording of DeepSeek-V3.1's template, for templates that do not print tools.
  std::string s = "## Tools\nYou have access to the following tools:\n";
  for (const json& t : tools) {
    const json& f = t["function"];
    s += "\n### " + f.value("name", "") + "\nDescription: " + f.value("description", "") +
         "\n\nParameters: " + (f.contains("parameters") ? f["parameters"].dump() : "{}") + "\n";
  }
  s += "\nIMPORTANT: ALWAYS adhere to this exact format for tool use:\n"
       "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>tool_call_name\n"
       "```json\ntool_call_arguments\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>\n";
  return s;
}

void check_tools(const json& tools) {
  if (!tools.is_array()) bad("tools", "'tools' must be an array");
  for (size_t i = 0; i < tools.size(); ++i) {
    const json& t = tools[i];
    const std::string p = cat("tools[", i, "]");
    if (!t.is_object() || t.value("type", "function") != "function" || !t.contains("function") ||
        !t["function"].is_object())
      bad(p, cat("'", p, "' must be {\"type\": \"function\", \"function\": {…}}"));
    const json& f = t["function"];
    if (!f.contains("name") || !f["name"].is_string() || f["name"].get<std::string>().empty())
      bad(p + ".function.name", "a tool needs a non-empty function name");
    if (f.contains("parameters") && !f["parameters"].is_object() && !f["parameters"].is_null())
      bad(p + ".function.parameters", "function parameters must be a JSON Schema object");
  }
}

}  // namespace

RequestBuilder::RequestBuilder(const Tokenizer& tok, const ChatTemplate& tmpl, RequestLimits limits)
    : tok_(tok),
      tmpl_(tmpl),
      limits_(limits),
      template_prints_tools_(tmpl.source().find("tools") != std::string::npos) {}

std::string RequestBuilder::render_chat(const json& messages, const json& tools) const {
  if (!messages.is_array()) bad("messages", "'messages' must be an array");
  if (messages.empty()) bad("messages", "'messages' must not be empty");
  json msgs = json::array();
  for (size_t i = 0; i < messages.size(); ++i) {
    const json& m = messages[i];
    const std::string p = cat("messages[", i, "]");
    if (!m.is_object()) bad(p, cat("'", p, "' must be an object"));
    if (!m.contains("role") || !m["role"].is_string())
      bad(p + ".role", cat("'", p, ".role' must be a string"));
    std::string role = m["role"].get<std::string>();
    if (role == "developer") role = "system";
    if (role != "system" && role != "user" && role != "assistant" && role != "tool")
      bad(p + ".role", cat("unknown role '", m["role"].get<std::string>(),
                           "' (expected system, developer, user, assistant or tool)"));
    json out = {{"role", role}};
    const bool has_calls = role == "assistant" && m.contains("tool_calls") &&
                           m["tool_calls"].is_array() && !m["tool_calls"].empty();
    if (!m.contains("content") && !has_calls)
      bad(p + ".content", cat("'", p, ".content' is missing"));
    json content =
        content_text(m.contains("content") ? m["content"] : json(), p + ".content", has_calls);
    if (has_calls) {
      // DeepSeek's templates print tool calls only for an assistant turn without content.
      if (content.is_string() && content.get<std::string>().empty()) content = nullptr;
      json calls = json::array();
      for (size_t k = 0; k < m["tool_calls"].size(); ++k) {
        const json& c = m["tool_calls"][k];
        const std::string cp = cat(p, ".tool_calls[", k, "]");
        if (!c.is_object() || !c.contains("function") || !c["function"].is_object() ||
            !c["function"].contains("name") || !c["function"]["name"].is_string())
          bad(cp, cat("'", cp, "' must have function.name"));
        json args = c["function"].value("arguments", json("{}"));
        if (!args.is_string()) args = args.dump();
        calls.push_back({{"id", c.value("id", "")},
                         {"type", "function"},
                         {"function", {{"name", c["function"]["name"]}, {"arguments", args}}}});
      }
      out["tool_calls"] = calls;
    }
    out["content"] = content;
    if (role == "tool" && m.contains("tool_call_id") && m["tool_call_id"].is_string())
      out["tool_call_id"] = m["tool_call_id"];
    msgs.push_back(std::move(out));
  }
  json extra = json::object();
  if (!tools.is_null() && !tools.empty()) {
    if (template_prints_tools_) {
      extra["tools"] = tools;
    } else {
      const std::string sys = tools_system_prompt(tools);
      if (msgs[0]["role"] == "system")
        msgs[0]["content"] = msgs[0]["content"].get<std::string>() + "\n\n" + sys;
      else
        msgs.insert(msgs.begin(), json{{"role", "system"}, {"content", sys}});
    }
  }
  try {
    return tmpl_.render(msgs, true, extra);
  } catch (const std::exception& e) {
    bad("messages", cat("the chat template rejected the conversation: ", e.what()));
  }
}

void RequestBuilder::sampling(const json& body, ApiRequest& r) const {
  SamplingParams& s = r.gen.sampling;
  s.temperature = float(number(body, "temperature", 1.0, 0.0, 2.0));
  s.top_p = float(number(body, "top_p", 1.0, 0.0, 1.0));
  s.top_k = int32_t(integer(body, "top_k", 0, 0, 1 << 20));
  s.min_p = float(number(body, "min_p", 0.0, 0.0, 1.0));
  s.presence_penalty = float(number(body, "presence_penalty", 0.0, -2.0, 2.0));
  s.frequency_penalty = float(number(body, "frequency_penalty", 0.0, -2.0, 2.0));
  s.repetition_penalty = float(number(body, "repetition_penalty", 1.0, 0.0, 10.0));
  s.penalty_last_n = -1;  // OpenAI's penalties count the whole output
  if (const json* v = field(body, "seed")) {
    if (!v->is_number_integer() && !v->is_number_unsigned())
      bad("seed", "'seed' must be an integer");
    s.seed = v->is_number_unsigned() ? v->get<uint64_t>() : uint64_t(v->get<int64_t>());
  } else {
    static std::atomic<uint64_t> counter{0x5eed};
    s.seed = counter.fetch_add(0x9E3779B97F4A7C15ull);
  }
  if (const json* v = field(body, "stop")) {
    if (v->is_string()) {
      r.gen.stop.push_back(v->get<std::string>());
    } else if (v->is_array()) {
      if (v->size() > 4) bad("stop", "'stop' may hold at most 4 strings");
      for (const json& x : *v) {
        if (!x.is_string()) bad("stop", "'stop' must be a string or an array of strings");
        r.gen.stop.push_back(x.get<std::string>());
      }
    } else {
      bad("stop", "'stop' must be a string or an array of strings");
    }
  }
  if (const json* v = field(body, "logit_bias")) {
    if (!v->is_object()) bad("logit_bias", "'logit_bias' must map token ids to numbers");
    for (auto it = v->begin(); it != v->end(); ++it) {
      char* end = nullptr;
      const long id = std::strtol(it.key().c_str(), &end, 10);
      if (it.key().empty() || *end || id < 0 || id >= tok_.vocab_size())
        bad("logit_bias", cat("'logit_bias' key '", it.key(), "' is not a token id"));
      if (!it.value().is_number() || std::abs(it.value().get<double>()) > 100)
        bad("logit_bias", "'logit_bias' values must be numbers in [-100, 100]");
      r.gen.logit_bias.push_back({int32_t(id), it.value().get<float>()});
    }
  }
  if (integer(body, "n", 1, 1, 1) != 1) bad("n", "only n = 1 is supported");
  r.stream = boolean(body, "stream", false);
  if (const json* v = field(body, "stream_options")) {
    if (!v->is_object()) bad("stream_options", "'stream_options' must be an object");
    r.include_usage = boolean(*v, "include_usage", false);
  }
  if (const json* v = field(body, "model"))
    if (!v->is_string()) bad("model", "'model' must be a string");
  r.model = body.value("model", "");
}

void RequestBuilder::finish(ApiRequest& r, const json& body, int64_t default_max) const {
  const int64_t n = int64_t(r.gen.prompt.size());
  if (n == 0) bad("prompt", "the prompt is empty");
  if (n >= limits_.ctx_size)
    throw ApiError(400,
                   cat("This model's maximum context length is ", limits_.ctx_size,
                       " tokens, but the prompt has ", n,
                       " tokens (leave room for at least one generated token)."),
                   "invalid_request_error", "messages", "context_length_exceeded");
  int64_t max = integer(body, "max_tokens", -1, 1, limits_.max_tokens);
  max = integer(body, "max_completion_tokens", max, 1, limits_.max_tokens);
  if (max < 0) max = default_max;
  r.gen.max_tokens = std::min(max, limits_.ctx_size - n);
}

ApiRequest RequestBuilder::chat(const json& body) const {
  if (!body.is_object()) bad("", "the request body must be a JSON object");
  ApiRequest r;
  sampling(body, r);
  if (!body.contains("messages")) bad("messages", "'messages' is required");
  json tools = nullptr;
  if (const json* t = field(body, "tools")) {
    check_tools(*t);
    if (!t->empty()) tools = *t;
  }
  // tool_choice: "none", "auto", "required" or {"type": "function", "function": {"name"}}.
  std::vector<std::string> forced_names;
  bool tools_on = !tools.is_null();
  if (const json* c = field(body, "tool_choice")) {
    if (c->is_string()) {
      const std::string v = c->get<std::string>();
      if (v == "none") {
        tools_on = false;
      } else if (v == "required") {
        if (tools.is_null())
          bad("tool_choice", "'tool_choice' is 'required' but no tools are given");
        for (const json& t : tools) forced_names.push_back(t["function"]["name"]);
      } else if (v != "auto") {
        bad("tool_choice", "'tool_choice' must be none, auto, required or a function");
      }
    } else if (c->is_object() && c->contains("function") && (*c)["function"].is_object() &&
               (*c)["function"].contains("name") && (*c)["function"]["name"].is_string()) {
      const std::string name = (*c)["function"]["name"];
      bool known = false;
      if (!tools.is_null())
        for (const json& t : tools) known |= t["function"]["name"] == name;
      if (!known)
        bad("tool_choice", cat("'tool_choice' names '", name, "', which is not in 'tools'"));
      forced_names.push_back(name);
    } else {
      bad("tool_choice", "'tool_choice' must be none, auto, required or a function");
    }
  }
  r.prompt_text = render_chat(body["messages"], tools_on ? tools : json());
  r.gen.prompt = tok_.encode(r.prompt_text, false);
  r.gen.split_reasoning = true;
  r.gen.opens_reasoning = prompt_opens_reasoning(r.prompt_text);
  r.gen.detect_tool_calls = tools_on;

  if (const json* v = field(body, "logprobs")) {
    if (!v->is_boolean()) bad("logprobs", "'logprobs' must be a boolean");
    r.logprobs = v->get<bool>();
  }
  const int64_t top = integer(body, "top_logprobs", 0, 0, 20);
  if (field(body, "top_logprobs") && !r.logprobs)
    bad("top_logprobs", "'top_logprobs' needs 'logprobs': true");
  if (r.logprobs) r.gen.top_logprobs = int(top);

  bool json_mode = false;
  if (const json* f = field(body, "response_format")) {
    if (!f->is_object() || !f->contains("type") || !(*f)["type"].is_string())
      bad("response_format", "'response_format' must be {\"type\": …}");
    const std::string t = (*f)["type"];
    if (t == "json_object" || t == "json_schema")
      json_mode = true;
    else if (t != "text")
      bad("response_format.type",
          "'response_format.type' must be text, json_object or json_schema");
  }
  // Constrained outputs skip the thinking the template opened: they must start at once.
  std::vector<Segment> segs;
  auto forced_text = [&](const std::string& text) {
    Segment s;
    s.kind = Segment::Kind::kForced;
    s.forced = tok_.encode(text, false);
    segs.push_back(std::move(s));
  };
  if ((json_mode || !forced_names.empty()) && r.gen.opens_reasoning) forced_text("</think>\n\n");
  if (!forced_names.empty() && tools_on) {
    forced_text(std::string(kToolCallsBegin) + std::string(kToolCallBegin) + "function" +
                std::string(kToolSep));
    Segment names;
    names.kind = Segment::Kind::kChoice;
    for (const auto& n : forced_names) names.choices.push_back(n + "\n```json\n");
    segs.push_back(std::move(names));
    segs.push_back(Segment{Segment::Kind::kJson, {}, {}});
    forced_text(tool_call_suffix(true));
    r.gen.constraint_is_tool_call = true;
    r.gen.detect_tool_calls = true;
  } else if (json_mode) {
    segs.push_back(Segment{Segment::Kind::kJson, {}, {}});
  }
  r.gen.constraint = std::move(segs);
  finish(r, body, limits_.max_tokens);
  return r;
}

ApiRequest RequestBuilder::completion(const json& body) const {
  if (!body.is_object()) bad("", "the request body must be a JSON object");
  ApiRequest r;
  sampling(body, r);
  const json* p = field(body, "prompt");
  if (!p) bad("prompt", "'prompt' is required");
  if (p->is_array() && p->size() == 1 && (*p)[0].is_string()) p = &(*p)[0];
  if (p->is_string()) {
    r.prompt_text = p->get<std::string>();
    r.gen.prompt = tok_.encode(r.prompt_text, tok_.add_bos());
  } else if (p->is_array() && !p->empty() && (*p)[0].is_number_integer()) {
    for (const json& t : *p) {
      if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= tok_.vocab_size())
        bad("prompt", "'prompt' token ids must be integers in the vocabulary");
      r.gen.prompt.push_back(t.get<int32_t>());
    }
  } else {
    bad("prompt", "'prompt' must be a string, a one-string array or an array of token ids");
  }
  if (const json* v = field(body, "logprobs")) {
    if (!v->is_number_integer() || v->get<int64_t>() < 0 || v->get<int64_t>() > 20)
      bad("logprobs", "'logprobs' must be an integer between 0 and 20");
    r.logprobs = true;
    r.gen.top_logprobs = v->get<int>();
  }
  finish(r, body, 16);  // OpenAI's default for completions
  return r;
}

}  // namespace ds::server
