#include "server/api_request.h"

#include <gtest/gtest.h>

#include "server/api_error.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace ds::server {
namespace {

using nlohmann::json;

const std::string kTok = std::string(DSINFER_TEST_DATA_DIR) + "/tokenizer/";

struct Fixture {
  Tokenizer tok = Tokenizer::from_model_dir(kTok + "deepseek-v3");
  ChatTemplate v3 = ChatTemplate::from_tokenizer_config(kTok + "deepseek-v3/tokenizer_config.json");
  ChatTemplate r1 = ChatTemplate::from_tokenizer_config(kTok + "deepseek-r1/tokenizer_config.json");
  Fixture() {
    for (ChatTemplate* t : {&v3, &r1}) {
      t->set_special_token("bos_token", tok.bos_token());
      t->set_special_token("eos_token", tok.eos_token());
    }
  }
};

Fixture& fx() {
  static Fixture f;
  return f;
}

int status_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ApiError& e) {
    return e.status;
  }
  return 200;
}

TEST(ApiRequest, RendersMessagesWithTheModelsTemplate) {
  RequestBuilder b(fx().tok, fx().v3, {});
  const ApiRequest r = b.chat(json::parse(R"({"model": "x", "messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "!"}]}]})"));
  EXPECT_EQ(r.prompt_text, "<｜begin▁of▁sentence｜>Be brief.<｜User｜>Hi!<｜Assistant｜>");
  EXPECT_EQ(r.gen.prompt, fx().tok.encode(r.prompt_text, false));
  EXPECT_FALSE(r.gen.opens_reasoning);
  EXPECT_TRUE(r.gen.split_reasoning);
}

TEST(ApiRequest, R1TemplateOpensReasoning) {
  RequestBuilder b(fx().tok, fx().r1, {});
  const ApiRequest r =
      b.chat(json::parse(R"({"messages": [{"role": "user", "content": "2+2?"}]})"));
  EXPECT_TRUE(r.gen.opens_reasoning);
  EXPECT_NE(r.prompt_text.find("<｜Assistant｜><think>\n"), std::string::npos);
}

TEST(ApiRequest, ToolRoundTripRendersCallsAndResults) {
  RequestBuilder b(fx().tok, fx().v3, {});
  const ApiRequest r = b.chat(json::parse(R"({
    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
    "messages": [
      {"role": "user", "content": "Weather in Paris?"},
      {"role": "assistant", "content": "", "tool_calls": [{"id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "22C"}]})"));
  // V3's template does not print tools: they go into the system prompt.
  EXPECT_NE(r.prompt_text.find("### get_weather"), std::string::npos);
  EXPECT_NE(r.prompt_text.find("<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
                               "{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜>"),
            std::string::npos);
  EXPECT_NE(r.prompt_text.find("<｜tool▁output▁begin｜>22C<｜tool▁output▁end｜>"),
            std::string::npos);
  EXPECT_TRUE(r.gen.detect_tool_calls);
}

TEST(ApiRequest, ForcedToolCallAndJsonModeBecomeConstraints) {
  RequestBuilder b(fx().tok, fx().r1, {});
  const ApiRequest t = b.chat(json::parse(R"({
    "tools": [{"type": "function", "function": {"name": "f"}}],
    "tool_choice": {"type": "function", "function": {"name": "f"}},
    "messages": [{"role": "user", "content": "x"}]})"));
  ASSERT_EQ(t.gen.constraint.size(), 5u);  // </think>, call prefix, name, JSON, suffix
  EXPECT_EQ(t.gen.constraint[2].choices, std::vector<std::string>{"f\n```json\n"});
  EXPECT_TRUE(t.gen.constraint_is_tool_call);
  const ApiRequest j = b.chat(json::parse(R"({"response_format": {"type": "json_object"},
    "messages": [{"role": "user", "content": "x"}]})"));
  ASSERT_EQ(j.gen.constraint.size(), 2u);
  EXPECT_EQ(j.gen.constraint[1].kind, Segment::Kind::kJson);
}

TEST(ApiRequest, BadRequestsAre400) {
  RequestBuilder b(fx().tok, fx().v3, {64, 100});
  auto chat = [&](const char* body) { return status_of([&] { b.chat(json::parse(body)); }); };
  EXPECT_EQ(chat(R"([1, 2])"), 400);
  EXPECT_EQ(chat(R"({})"), 400);
  EXPECT_EQ(chat(R"({"messages": []})"), 400);
  EXPECT_EQ(chat(R"({"messages": "hi"})"), 400);
  EXPECT_EQ(chat(R"({"messages": [{"role": "", "content": "x"}]})"), 400);
  EXPECT_EQ(chat(R"({"messages": [{"role": "wizard", "content": "x"}]})"), 400);
  EXPECT_EQ(chat(R"({"messages": [{"role": "user"}]})"), 400);
  EXPECT_EQ(chat(R"({"messages": [{"role": "user", "content": 5}]})"), 400);
  EXPECT_EQ(chat(R"({"messages": [{"role": "user", "content": "x"}], "temperature": "hot"})"), 400);
  EXPECT_EQ(chat(R"({"messages": [{"role": "user", "content": "x"}], "temperature": 3})"), 400);
  EXPECT_EQ(chat(R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0})"), 400);
  EXPECT_EQ(chat(R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 101})"), 400);
  EXPECT_EQ(chat(R"({"messages": [{"role": "user", "content": "x"}], "n": 2})"), 400);
  EXPECT_EQ(chat(R"({"messages": [{"role": "user", "content": "x"}], "stop": [1]})"), 400);
  EXPECT_EQ(chat(R"({"messages": [{"role": "user", "content": "x"}], "tool_choice": "required"})"),
            400);
  EXPECT_EQ(chat(R"({"messages": [{"role": "user", "content": "x"}], "logit_bias": {"-1": 5}})"),
            400);
  EXPECT_EQ(chat(R"({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2})"), 400);
  std::string words;
  for (int i = 0; i < 100; ++i) words += " w" + std::to_string(i);
  const std::string long_prompt =
      R"({"messages": [{"role": "user", "content": ")" + words + R"("}]})";
  try {
    b.chat(json::parse(long_prompt));
    ADD_FAILURE() << "over-long prompt accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.code, "context_length_exceeded");
  }
  EXPECT_EQ(chat(R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 5})"), 200);
}

TEST(ApiRequest, MaxTokensIsClampedToTheContext) {
  RequestBuilder b(fx().tok, fx().v3, {64, 100});
  const ApiRequest r = b.chat(json::parse(R"({"messages": [{"role": "user", "content": "x"}]})"));
  EXPECT_EQ(r.gen.max_tokens, 64 - int64_t(r.gen.prompt.size()));
}

TEST(ApiRequest, CompletionsTakeRawPrompts) {
  RequestBuilder b(fx().tok, fx().v3, {});
  const ApiRequest r = b.completion(json::parse(R"({"prompt": "Once upon", "max_tokens": 3})"));
  EXPECT_EQ(r.gen.max_tokens, 3);
  EXPECT_FALSE(r.gen.split_reasoning);
  EXPECT_EQ(b.completion(json::parse(R"({"prompt": [1, 2, 3]})")).gen.prompt,
            (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(status_of([&] { b.completion(json::parse(R"({"prompt": 7})")); }), 400);
}

}  // namespace
}  // namespace ds::server
