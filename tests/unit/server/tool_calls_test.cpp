#include "server/tool_calls.h"

#include <gtest/gtest.h>

namespace ds::server {
namespace {

TEST(ToolCalls, TextWithoutABlockIsContent) {
  const ParsedToolCalls p = parse_tool_calls("Hello there.");
  EXPECT_EQ(p.content, "Hello there.");
  EXPECT_TRUE(p.calls.empty());
}

TEST(ToolCalls, ParsesV3Syntax) {
  const std::string t =
      "Let me check.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n"
      "```json\n{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>function"
      "<｜tool▁sep｜>get_time\n```json\n{}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>";
  const ParsedToolCalls p = parse_tool_calls(t);
  EXPECT_EQ(p.content, "Let me check.");
  ASSERT_EQ(p.calls.size(), 2u);
  EXPECT_EQ(p.calls[0].name, "get_weather");
  EXPECT_EQ(p.calls[0].arguments, "{\"city\": \"Paris\"}");
  EXPECT_EQ(p.calls[1].name, "get_time");
  EXPECT_EQ(p.calls[1].arguments, "{}");
}

TEST(ToolCalls, ParsesV31Syntax) {
  const ParsedToolCalls p = parse_tool_calls(
      "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>search<｜tool▁sep｜>{\"q\": \"x\"}"
      "<｜tool▁call▁end｜><｜tool▁calls▁end｜>");
  EXPECT_EQ(p.content, "");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].name, "search");
  EXPECT_EQ(p.calls[0].arguments, "{\"q\": \"x\"}");
}

TEST(ToolCalls, DropsACallCutOff) {
  const ParsedToolCalls p = parse_tool_calls(
      "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n```json\n{\"a\":");
  EXPECT_TRUE(p.calls.empty());
}

TEST(ToolCalls, PrefixAndSuffixRoundTrip) {
  const std::string t = tool_call_prefix("f", true) + "{\"x\": 1}" + tool_call_suffix(false) +
                        tool_call_prefix("g", false) + "{}" + tool_call_suffix(true);
  const ParsedToolCalls p = parse_tool_calls(t);
  ASSERT_EQ(p.calls.size(), 2u);
  EXPECT_EQ(p.calls[0].name, "f");
  EXPECT_EQ(p.calls[0].arguments, "{\"x\": 1}");
  EXPECT_EQ(p.calls[1].name, "g");
}

}  // namespace
}  // namespace ds::server
