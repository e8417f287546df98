#include "server/json_constraint.h"

#include <gtest/gtest.h>

#include <string>

namespace ds::server {
namespace {

bool accepts(const std::string& s) {
  JsonState j;
  return j.feed(s) && j.done();
}
bool prefix_ok(const std::string& s) {
  JsonState j;
  return j.feed(s);
}

TEST(JsonState, AcceptsValidObjects) {
  for (const char* s : {"{}", "{ }", R"({"a":1})", R"({"a": [1, 2.5, -3e+2, true, false, null]})",
                        R"({"a":{"b":{"c":[]}},"d":"x\"y\\z\u00e9\n"})",
                        "{\"k\":\"\xc3\xa9\xe2\x82\xac\"}", R"({"n":0, "m":-0.5E-3})"})
    EXPECT_TRUE(accepts(s)) << s;
}

TEST(JsonState, RejectsInvalidText) {
  for (const char* s : {"[1]", "\"x\"", "1", R"({"a":01})", R"({"a":1,})", R"({a:1})", R"({"a" 1})",
                        R"({"a":tru})", R"({"a":"\x"})", R"({"a":[1}})", "{\"a\":\"\x01\"}",
                        R"({"a":.5})", R"({"a":1.})", "{}}", "{\"a\":\"\xff\"}"})
    EXPECT_FALSE(accepts(s)) << s;
}

TEST(JsonState, PrefixesOfValidTextAreAccepted) {
  const std::string s = R"({"key": [1, -2.5e3, "s\u00e9", {"x": null}], "t": true})";
  for (size_t n = 0; n <= s.size(); ++n) EXPECT_TRUE(prefix_ok(s.substr(0, n))) << n;
}

TEST(JsonState, LimitsWhitespaceAndDepth) {
  EXPECT_TRUE(prefix_ok("{    "));
  EXPECT_FALSE(prefix_ok("{     "));
  EXPECT_TRUE(prefix_ok("{\"a\":" + std::string(JsonState::kMaxDepth - 1, '[')));
  EXPECT_FALSE(prefix_ok("{\"a\":" + std::string(JsonState::kMaxDepth, '[')));
}

TEST(JsonState, MinRemainingIsExactForGreedyClosing) {
  // Closing greedily with the cheapest bytes always reaches done() in min_remaining() bytes.
  for (const char* s : {"", "{", R"({"a)", R"({"a")", R"({"a":)", R"({"a":[)", R"({"a":[1)",
                        R"({"a":-)", R"({"a":1.)", R"({"a":"\)", R"({"a":"\u12)", R"({"a":tr)",
                        R"({"a":1,)", R"({"a":{"b":[{)", "{\"a\":\"\xe2\x82"}) {
    JsonState j;
    ASSERT_TRUE(j.feed(s)) << s;
    int steps = 0;
    const int need = j.min_remaining();
    while (!j.done() && steps < 64) {
      bool moved = false;
      for (char c : std::string("\"}]:0ue\x82\xac{")) {
        JsonState t = j;
        if (t.feed(std::string(1, c)) && t.min_remaining() < j.min_remaining()) {
          j = t;
          moved = true;
          break;
        }
      }
      ASSERT_TRUE(moved) << s << " stuck after " << steps;
      ++steps;
    }
    EXPECT_EQ(steps, need) << s;
  }
}

}  // namespace
}  // namespace ds::server
