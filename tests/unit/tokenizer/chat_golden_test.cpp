// Chat templates against renderings by Python's jinja2 (tools/tokgen/render_templates.py)
// and the shared DeepSeek vectors (text and ids).
#include <gtest/gtest.h>

#include <map>

#include "core/error.h"
#include "test_util.h"
#include "tokenizer/chat_template.h"

namespace ds {
namespace {

const std::map<std::string, ChatTemplate>& templates() {
  static const std::map<std::string, ChatTemplate> t = [] {
    std::map<std::string, ChatTemplate> m;
    m.emplace("v3", ChatTemplate::from_tokenizer_config(test::tok_data("deepseek-v3")));
    m.emplace("r1", ChatTemplate::from_tokenizer_config(test::tok_data("deepseek-r1")));
    for (const auto& r : test::read_jsonl(test::tok_data("chat-golden.jsonl"))) {
      if (r["file"].is_null() || m.count(r["template"].get<std::string>())) continue;
      ChatTemplate c(test::read_all(test::tok_data("templates/" + r["file"].get<std::string>())));
      m.emplace(r["template"].get<std::string>(), std::move(c));
    }
    return m;
  }();
  return t;
}

TEST(ChatGolden, MatchesJinja2) {
  const auto conversations = nlohmann::ordered_json::parse(
      test::read_all(test::tok_data("chat-golden-conversations.json")));
  const auto records = test::read_jsonl(test::tok_data("chat-golden.jsonl"));
  ASSERT_GT(records.size(), 1000u);
  size_t rendered = 0, errors = 0;
  for (const auto& r : records) {
    const std::string name = r["template"].get<std::string>();
    SCOPED_TRACE(name + " / " + r["conversation"].get<std::string>() +
                 " / agp=" + r["add_generation_prompt"].dump() + " / extra=" + r["extra"].dump());
    ChatTemplate t = templates().at(name);
    t.set_special_token("bos_token", "<｜begin▁of▁sentence｜>");
    t.set_special_token("eos_token", "<｜end▁of▁sentence｜>");
    t.set_special_token("pad_token", "<｜end▁of▁sentence｜>");
    const auto& messages = conversations.at(r["conversation"].get<std::string>());
    const bool agp = r["add_generation_prompt"].get<bool>();
    if (r.contains("error")) {
      EXPECT_THROW(t.render(messages, agp, r["extra"]), Error) << r["error"];
      ++errors;
    } else {
      EXPECT_EQ(t.render(messages, agp, r["extra"]), r["text"].get<std::string>());
      ++rendered;
    }
  }
  EXPECT_GT(errors, 0u);
  EXPECT_GT(rendered, errors);
}

TEST(ChatGolden, SharedVectorsTextAndIds) {
  const auto records = test::read_jsonl(test::tok_data("deepseek-chat-template-vectors.jsonl"));
  ASSERT_EQ(records.size(), 24u);
  for (const auto& r : records) {
    const std::string name = r["template"].get<std::string>();
    SCOPED_TRACE(name + " / " + r["name"].get<std::string>());
    const std::string text =
        templates().at(name).render(r["messages"], r["add_generation_prompt"].get<bool>());
    EXPECT_EQ(text, r["text"].get<std::string>());
    const Tokenizer& tok = name == "v3" ? test::deepseek_v3() : test::deepseek_r1();
    const auto ids = tok.encode(text);
    EXPECT_EQ(nlohmann::json(ids), r["ids"]);
    // The rendered text already holds BOS: asking for BOS must not add a second one.
    EXPECT_EQ(tok.encode(text, /*add_bos=*/true), ids);
  }
}

}  // namespace
}  // namespace ds
