// Random and damaged input: templates and tokenizer files must fail with ds::Error (or
// work), never crash or throw anything else.
#include <gtest/gtest.h>

#include <random>

#include "core/error.h"
#include "test_util.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/jinja/template.h"
#include "tokenizer/tokenizer.h"

namespace ds {
namespace {

TEST(Fuzz, RandomTemplatesFailCleanly) {
  static const char* const kPieces[] = {
      "{%",         "%}",       "{{",     "}}",      "{#",         "#}",         "-",
      "+",          " if ",     " elif ", " else ",  " endif ",    " for ",      " in ",
      " endfor ",   " set ",    " = ",    " macro ", " endmacro ", " call ",     " endcall ",
      " raw ",      " endraw ", " not ",  " and ",   " or ",       " is ",       " defined ",
      "(",          ")",        "[",      "]",       "{",          "}",          ",",
      ":",          ".",        "|",      "'",       "\"",         "x",          "ns",
      "loop",       "messages", "1",      "2.5",     "~",          "*",          "/",
      "//",         "%",        "**",     "==",      "<",          "\n",         " ",
      "namespace(", "range(",   "tojson", "trim",    "length",     "selectattr", "attr",
      "batch",      "map",      "join",   "items()", "split(",     "\\",         "é",
      "\xFF"};
  std::mt19937 rng(99);
  jinja::Limits limits;
  limits.max_steps = 20000;
  const jinja::Value ctx = jinja::Value::from_json(nlohmann::ordered_json::parse(
      R"({"messages": [{"role": "user", "content": "hi"}], "x": [1, "a", null]})"));
  int rendered = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string src;
    const int n = 1 + static_cast<int>(rng() % 30);
    for (int k = 0; k < n; ++k) src += kPieces[rng() % (sizeof(kPieces) / sizeof(kPieces[0]))];
    try {
      jinja::Template t(src);
      t.render(ctx, limits);
      ++rendered;
    } catch (const Error&) {
    } catch (const std::exception& e) {
      ADD_FAILURE() << "non-ds::Error exception '" << e.what() << "' for: " << src;
    }
  }
  EXPECT_GT(rendered, 0);
}

TEST(Fuzz, DamagedTokenizerFilesFailCleanly) {
  const std::string good = test::read_all(test::tok_data("small/qwen2.json"));
  std::mt19937 rng(5);
  int loaded = 0;
  for (int iter = 0; iter < 300; ++iter) {
    std::string s = good;
    switch (iter % 3) {
      case 0:  // truncated
        s.resize(rng() % s.size());
        break;
      case 1:  // bytes overwritten
        for (int k = 0; k < 4; ++k) s[rng() % s.size()] = static_cast<char>(rng() % 256);
        break;
      default:  // a block duplicated somewhere else
      {
        const size_t a = rng() % s.size(), len = rng() % 64, b = rng() % s.size();
        s.insert(b, s.substr(a, len));
      }
    }
    try {
      const Tokenizer t = Tokenizer::from_json_text(s, nullptr, "damaged.json");
      t.encode("Hello, world! 你好 123");
      ++loaded;
    } catch (const Error&) {
    } catch (const std::exception& e) {
      ADD_FAILURE() << "non-ds::Error exception: " << e.what();
    }
  }
  EXPECT_LT(loaded, 300);
}

}  // namespace
}  // namespace ds
