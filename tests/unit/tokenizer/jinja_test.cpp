// The Jinja subset: feature snippets against jinja2's output, errors, and limits.
#include <gtest/gtest.h>

#include "core/error.h"
#include "test_util.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/jinja/template.h"

namespace ds::jinja {
namespace {

std::string render(const std::string& src, const nlohmann::ordered_json& ctx = {},
                   const Limits& limits = {}) {
  const Value c = ctx.is_null() ? Value::dict() : Value::from_json(ctx);
  return Template(src).render(c, limits);
}

std::string error_of(const std::string& src, const Limits& limits = {}) {
  try {
    render(src, {}, limits);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(Jinja, SnippetsMatchJinja2) {
  const auto records = test::read_jsonl(test::tok_data("jinja-snippets.jsonl"));
  ASSERT_GT(records.size(), 50u);
  for (const auto& r : records) {
    const std::string src = r["template"].get<std::string>();
    SCOPED_TRACE(src);
    if (r.contains("error")) {
      EXPECT_THROW(render(src, r["context"]), Error) << r["error"];
    } else {
      EXPECT_EQ(render(src, r["context"]), r["text"].get<std::string>());
    }
  }
}

TEST(Jinja, SyntaxErrorsNameTheLine) {
  EXPECT_NE(error_of("a\nb\n{% if x %}\nc").find("line 4"), std::string::npos)
      << error_of("a\nb\n{% if x %}\nc");
  EXPECT_NE(error_of("\n{{ 1 + }}").find("line 2"), std::string::npos);
  EXPECT_NE(error_of("{% frobnicate %}").find("frobnicate"), std::string::npos);
  EXPECT_NE(error_of("{{ 'open").find("unterminated"), std::string::npos);
  EXPECT_NE(error_of("{{ x").find("unclosed"), std::string::npos);
}

TEST(Jinja, RaiseExceptionMessage) {
  EXPECT_NE(error_of("{{ raise_exception('Conversation roles must alternate') }}")
                .find("Conversation roles must alternate"),
            std::string::npos);
}

TEST(Jinja, EndlessRecursionIsStopped) {
  const std::string e = error_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  EXPECT_NE(e.find("nested more than"), std::string::npos) << e;
}

TEST(Jinja, HugeLoopsAreStopped) {
  Limits small;
  small.max_steps = 100'000;
  const std::string e = error_of(
      "{% for i in range(1000000) %}{% for j in range(1000000) %}x{% endfor %}{% endfor %}", small);
  EXPECT_NE(e.find("steps"), std::string::npos) << e;
  EXPECT_NE(error_of("{% for i in range(10**12) %}{% endfor %}").find("limit"), std::string::npos);
}

TEST(Jinja, OutputLimit) {
  Limits small;
  small.max_output = 1000;
  EXPECT_NE(error_of("{% for i in range(10000) %}abc{% endfor %}", small).find("output"),
            std::string::npos);
  EXPECT_THROW(render("{{ 'x' * 100000000000 }}"), Error);
}

TEST(Jinja, AbsurdNestingIsAnErrorNotACrash) {
  EXPECT_THROW(render("{{ " + std::string(100000, '(') + "1" + std::string(100000, ')') + " }}"),
               Error);
  EXPECT_THROW(render("{{ " + std::string(100000, '[') + " }}"), Error);
  std::string ifs;
  for (int i = 0; i < 5000; ++i) ifs += "{% if true %}";
  EXPECT_THROW(render(ifs), Error);
  EXPECT_THROW(render("{{ " + std::string(100000, '-') + "1 }}"), Error);
  // Values nested without bound through a namespace, or in the input.
  EXPECT_THROW(render("{% set ns = namespace(x=[]) %}{% for i in range(100000) %}"
                      "{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x }}"),
               Error);
  const auto deep = nlohmann::ordered_json::parse(std::string(5000, '[') + std::string(5000, ']'));
  EXPECT_THROW(render("{{ x }}", {{"x", deep}}), Error);
  std::string nots = "{{ ";
  for (int i = 0; i < 100000; ++i) nots += "not ";
  EXPECT_THROW(render(nots + "1 }}"), Error);
}

TEST(Jinja, ValuesPrintLikePython) {
  EXPECT_EQ(float_repr(0.1), "0.1");
  EXPECT_EQ(float_repr(1e22), "1e+22");
  EXPECT_EQ(float_repr(1.5e-5), "1.5e-05");
  EXPECT_EQ(float_repr(100.0), "100.0");
  EXPECT_EQ(float_repr(1234567890123456.7), "1234567890123456.8");
  EXPECT_EQ(render("{{ x }}", {{"x", nlohmann::ordered_json::parse("[1, 2.0, \"it's\", null]")}}),
            "[1, 2.0, \"it's\", None]");
}

TEST(ChatTemplate, MissingTemplateIsAClearError) {
  try {
    ChatTemplate::from_tokenizer_config(test::tok_data("no-such-dir"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer_config.json"), std::string::npos);
  }
  EXPECT_THROW(ChatTemplate::builtin("llama"), Error);
  const ChatTemplate t = ChatTemplate::builtin("deepseek_v3");
  const auto msgs = nlohmann::json::parse(R"([{"role":"user","content":"Hi"}])");
  EXPECT_EQ(t.render(msgs, true), "<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜>");
}

TEST(ChatTemplate, BadTemplateSourceThrowsAtConstruction) {
  EXPECT_THROW(ChatTemplate("{% for m in messages %}"), Error);
  EXPECT_THROW(ChatTemplate("{{ messages | }}"), Error);
}

TEST(ChatTemplate, NonArrayMessagesRejected) {
  const ChatTemplate t("{{ messages }}");
  EXPECT_THROW(t.render(nlohmann::json::object(), false), Error);
}

}  // namespace
}  // namespace ds::jinja
