// Tokenizer: shared DeepSeek vectors, small tokenizers of other families (golden ids from
// transformers.js), hand-checked behaviours, decoding and streaming, bad input.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include "core/error.h"
#include "test_util.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/regex.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace ds {
namespace {

using test::read_jsonl;
using test::tok_data;

std::vector<int32_t> ids_of(const nlohmann::ordered_json& j) {
  return j.get<std::vector<int32_t>>();
}

TEST(TokenizerVectors, DeepSeekV3AllMatch) {
  const Tokenizer& tok = test::deepseek_v3();
  const auto records = read_jsonl(tok_data("deepseek-v3-vectors.jsonl"));
  ASSERT_EQ(records.size(), 261u);
  size_t disputed = 0;
  for (const auto& r : records) {
    const std::string text = r["text"].get<std::string>();
    SCOPED_TRACE("vector " + r["id"].dump() + ": " + r["text"].dump());
    // Disputed records: HF's Python reference treats U+0085 as not-\s; Oniguruma (the
    // reference's own regex engine semantics) and tokenizers.js treat it as White_Space.
    const bool is_disputed = r.value("disputed", false);
    disputed += is_disputed;
    const auto expected = ids_of(is_disputed ? r["ids_hf_tokenizers_js"] : r["ids"]);
    const auto ids = tok.encode(text);
    EXPECT_EQ(ids, expected);
    if (r.value("roundtrip", false)) {
      EXPECT_EQ(tok.decode(ids), text);
    }
    if (!is_disputed && r.contains("tokens")) {
      for (size_t k = 0; k < ids.size() && k < r["tokens"].size(); ++k) {
        EXPECT_EQ(tok.token_text(ids[k]), r["tokens"][k].get<std::string>());
      }
    }
  }
  EXPECT_EQ(disputed, 2u);
}

TEST(TokenizerVectors, DeepSeekR1ThinkTokens) {
  const Tokenizer& tok = test::deepseek_r1();
  const auto records = read_jsonl(tok_data("deepseek-v3-vectors.jsonl"));
  size_t checked = 0;
  for (const auto& r : records) {
    if (!r.contains("ids_r1")) continue;
    SCOPED_TRACE(r["text"].dump());
    EXPECT_EQ(tok.encode(r["text"].get<std::string>()), ids_of(r["ids_r1"]));
    ++checked;
  }
  EXPECT_GE(checked, 5u);
  EXPECT_EQ(tok.token_id("<think>"), 128798);
  EXPECT_FALSE(tok.is_special(128798));  // shown even when special tokens are skipped
  EXPECT_EQ(tok.decode(tok.encode("<think>x</think>y"), /*skip_special=*/true),
            "<think>x</think>y");
}

TEST(TokenizerVectors, SmallTokenizersMatchTransformersJs) {
  std::map<std::string, Tokenizer> toks;
  size_t n = 0;
  for (const auto& r : read_jsonl(tok_data("small/golden.jsonl"))) {
    const std::string name = r["tokenizer"].get<std::string>();
    if (!toks.count(name))
      toks.emplace(name, Tokenizer::from_json_file(tok_data("small/" + name + ".json")));
    const Tokenizer& tok = toks.at(name);
    SCOPED_TRACE(name + ": " + r["text"].dump());
    const auto ids = tok.encode(r["text"].get<std::string>());
    EXPECT_EQ(ids, ids_of(r["ids"]));
    // transformers.js decodes through TextDecoder, which drops U+FEFF; HF keeps it.
    if (r["text"].get<std::string>().find("\xEF\xBB\xBF") == std::string::npos) {
      EXPECT_EQ(tok.decode(ids), r["decoded"].get<std::string>());
    }
    ++n;
  }
  EXPECT_EQ(toks.size(), 5u);
  EXPECT_GT(n, 1000u);
}

TEST(Tokenizer, BosRules) {
  const Tokenizer& tok = test::deepseek_v3();
  ASSERT_TRUE(tok.bos_id().has_value());
  EXPECT_EQ(*tok.bos_id(), 0);
  EXPECT_EQ(*tok.eos_id(), 1);
  EXPECT_TRUE(tok.add_bos());  // tokenizer_config.json: add_bos_token = true
  EXPECT_TRUE(tok.is_special(0));
  EXPECT_EQ(tok.encode("Hello"), (std::vector<int32_t>{19923}));
  EXPECT_EQ(tok.encode("Hello", true), (std::vector<int32_t>{0, 19923}));
  // A prompt that already starts with BOS (rendered from a chat template) gets no second one.
  EXPECT_EQ(tok.encode("<｜begin▁of▁sentence｜>Hello", true), (std::vector<int32_t>{0, 19923}));
  EXPECT_EQ(tok.decode({0, 19923, 1}), "<｜begin▁of▁sentence｜>Hello<｜end▁of▁sentence｜>");
  EXPECT_EQ(tok.decode({0, 19923, 1}, /*skip_special=*/true), "Hello");
  EXPECT_EQ(tok.vocab_size(), 128815);  // the model pads its embedding to 129280

  // Without a config the file adds no BOS; Llama-3-style files add it by post-processor.
  const Tokenizer bare = Tokenizer::from_json_file(tok_data("deepseek-v3/tokenizer.json"));
  EXPECT_FALSE(bare.add_bos());
  const Tokenizer llama = Tokenizer::from_json_file(tok_data("small/llama3.json"));
  EXPECT_TRUE(llama.add_bos());
  const int32_t bot = *llama.token_id("<|begin_of_text|>");
  EXPECT_EQ(llama.encode("hi", true).front(), bot);
  EXPECT_EQ(llama.encode("<|begin_of_text|>hi", true), llama.encode("<|begin_of_text|>hi"));
}

TEST(Tokenizer, StreamingNeverEmitsBrokenUtf8) {
  const Tokenizer& tok = test::deepseek_v3();
  size_t held = 0;
  for (const auto& r : read_jsonl(tok_data("deepseek-v3-vectors.jsonl"))) {
    const auto ids = tok.encode(r["text"].get<std::string>());
    StreamDecoder sd(tok);
    std::string all;
    for (int32_t id : ids) {
      const std::string piece = sd.feed(id);
      EXPECT_TRUE(utf8::is_valid(piece));
      if (piece.empty() && !tok.token_bytes(id).empty()) ++held;
      all += piece;
    }
    all += sd.flush();
    EXPECT_EQ(all, tok.decode(ids));
  }
  EXPECT_GT(held, 0u);  // characters split across tokens did occur

  // A character cut short at the end of a stream becomes U+FFFD on flush.
  StreamDecoder sd(tok);
  const auto emoji = tok.encode("😀");
  ASSERT_GT(emoji.size(), 1u);
  EXPECT_EQ(sd.feed(emoji[0]), "");
  EXPECT_EQ(sd.flush(), "\xEF\xBF\xBD");
}

TEST(Tokenizer, StreamingHidesSpecialTokensOnRequest) {
  const Tokenizer& tok = test::deepseek_v3();
  StreamDecoder shown(tok), hidden(tok, /*skip_special=*/true);
  std::string a, b;
  for (int32_t id : tok.encode("<｜begin▁of▁sentence｜>Hi<｜end▁of▁sentence｜>")) {
    a += shown.feed(id);
    b += hidden.feed(id);
  }
  EXPECT_EQ(a, "<｜begin▁of▁sentence｜>Hi<｜end▁of▁sentence｜>");
  EXPECT_EQ(b, "Hi");
}

TEST(Tokenizer, InvalidUtf8IsTokenizedAsBytes) {
  const Tokenizer& tok = test::deepseek_v3();
  std::mt19937 rng(1234);
  for (int iter = 0; iter < 300; ++iter) {
    std::string s(rng() % 64, '\0');
    for (char& c : s) c = static_cast<char>(rng() % 256);
    if (iter % 3 == 0) s = "valid text " + s + " <｜User｜> 中文";
    std::vector<int32_t> ids;
    ASSERT_NO_THROW(ids = tok.encode(s));
    std::string bytes;
    for (int32_t id : ids) bytes += tok.token_bytes(id);
    EXPECT_EQ(bytes, s);
    EXPECT_TRUE(utf8::is_valid(tok.decode(ids)));
  }
  EXPECT_EQ(tok.decode(tok.encode("a\xFF"
                                  "b")),
            "a\xEF\xBF\xBD"
            "b");
}

std::vector<std::string> pieces(const PreTokenizer& p, std::string text) {
  std::vector<Span> spans;
  p.split(text, spans);
  std::vector<std::string> out;
  for (const Span& s : spans) out.push_back(text.substr(s.begin, s.end - s.begin));
  return out;
}

TEST(PreTokenizer, SplitBehaviours) {
  using V = std::vector<std::string>;
  auto one = [](const char* pat, SplitBehavior b, bool invert = false) {
    PreTokenizer p;
    p.add_split(pat, b, invert);
    return p;
  };
  EXPECT_EQ(pieces(one("[,;]", SplitBehavior::kMergedWithPrevious), "a,b;;c"),
            (V{"a,", "b;", ";", "c"}));
  EXPECT_EQ(pieces(one("-", SplitBehavior::kMergedWithNext), "a-b--c-"),
            (V{"a", "-b", "-", "-c", "-"}));
  EXPECT_EQ(pieces(one("[A-Z]", SplitBehavior::kContiguous), "xABy"), (V{"x", "AB", "y"}));
  EXPECT_EQ(pieces(one("\\s+", SplitBehavior::kRemoved), " a  b c "), (V{"a", "b", "c"}));
  EXPECT_EQ(pieces(one("\\d+", SplitBehavior::kIsolated, true), "ab12cd"), (V{"ab", "12", "cd"}));
  EXPECT_EQ(pieces(one("\\d+", SplitBehavior::kRemoved, true), "ab12cd34"), (V{"12", "34"}));
  EXPECT_EQ(pieces(PreTokenizer::from_name("deepseek-v3"), "Hello 12345 世界!!"),
            (V{"Hello", " ", "123", "45", " ", "世界", "!!"}));
  for (const char* name : {"deepseek-llm", "deepseek-coder", "qwen2", "llama-bpe", "gpt-2"})
    EXPECT_FALSE(PreTokenizer::from_name(name).empty()) << name;
  EXPECT_EQ(pieces(PreTokenizer::from_name("deepseek-llm"), "Hello world 123\n中文"),
            (V{"Hello", " world", " ", "123", "\n", "中文"}));
  EXPECT_THROW(PreTokenizer::from_name("no-such-model"), Error);
}

TEST(Tokenizer, SingleWordAddedTokens) {
  auto j = nlohmann::json::parse(test::read_all(tok_data("small/gpt2_flags.json")));
  int32_t magic = -1;
  for (auto& a : j["added_tokens"])
    if (a["content"] == "magic") {
      a["single_word"] = true;
      magic = a["id"].get<int32_t>();
    }
  const Tokenizer tok = Tokenizer::from_json_text(j.dump(), nullptr);
  const auto ids = tok.encode("magic magical amagic magic.");
  EXPECT_EQ(std::count(ids.begin(), ids.end(), magic), 2);
  EXPECT_EQ(ids.front(), magic);
}

TEST(Regex, OnigurumaWhitespace) {
  auto matches = [](const char* pat, const std::string& s) {
    std::vector<std::string> out;
    Regex(pat).for_each_match(s, [&](size_t b, size_t e) { out.push_back(s.substr(b, e - b)); });
    return out;
  };
  EXPECT_EQ(matches("\\s",
                    "a\xC2\x85"
                    "b")
                .size(),
            1u);  // U+0085 is White_Space
  EXPECT_TRUE(matches("\\s",
                      "a\xEF\xBB\xBF"
                      "b")
                  .empty());  // U+FEFF is not
  EXPECT_TRUE(matches("\\s",
                      "a\xE1\xA0\x8E"
                      "b")
                  .empty());  // nor U+180E
  EXPECT_EQ(matches("[^\\s]+",
                    "a\xC2\xA0"
                    "b")
                .size(),
            2u);                                            // U+00A0 is
  EXPECT_EQ(matches("\\S+", "x\xE3\x80\x80y").size(), 2u);  // U+3000 is
  EXPECT_EQ(matches("\\p{L}+", "héllo 世界").size(), 2u);
  EXPECT_EQ(matches("\\p{N}", "1٣").size(), 2u);
  EXPECT_EQ(matches("\\h+", "xDEADbeefz").at(0), "DEADbeef");  // Oniguruma: hex digit
  EXPECT_EQ(matches("\\s+$", "a  \nb  ").size(), 2u);          // $ at every line end
  EXPECT_EQ(matches(".",
                    "a\xFF\xFE"
                    "b")
                .size(),
            2u);  // bad bytes never match
  EXPECT_THROW(Regex("(unclosed"), Error);
}

TEST(Normalizer, Nfc) {
  EXPECT_EQ(nfc("e\xCC\x81"), "\xC3\xA9");                         // e + acute -> é
  EXPECT_EQ(nfc("\xE2\x84\xAB"), "\xC3\x85");                      // Angstrom sign -> Å
  EXPECT_EQ(nfc("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8"), "각");    // Hangul jamo
  EXPECT_EQ(nfc("\xE1\xB8\x8B\xCC\xA3"), "\xE1\xB8\x8D\xCC\x87");  // UAX #15 example
  EXPECT_EQ(nfc("plain ascii"), "plain ascii");
  EXPECT_EQ(nfc("a\xFF\xCC\x81"), "a\xFF\xCC\x81");  // bad byte kept, blocks
}

void expect_error(const std::string& json, const std::string& needle) {
  try {
    Tokenizer::from_json_text(json, nullptr, "test.json");
    ADD_FAILURE() << "no error for: " << json;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Tokenizer, MalformedFilesAreClearErrors) {
  const std::string ok_model =
      R"("model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]})";
  EXPECT_NO_THROW(Tokenizer::from_json_text("{" + ok_model + "}", nullptr));
  expect_error("{not json", "not valid JSON");
  expect_error("[]", "no \"model\"");
  expect_error(R"({"model": {"type": "WordPiece", "vocab": {}}})", "WordPiece");
  expect_error(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a c"]}})", "merge 0");
  expect_error(R"({"model": {"type": "BPE", "vocab": {"a": "x"}, "merges": []}})",
               "not an integer");
  expect_error(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 0}, "merges": []}})",
               "given to both");
  expect_error(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["ab"]}})", "bad entry");
  expect_error(
      R"({"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(["}, "behavior": "Isolated"}, )" +
          ok_model + "}",
      "invalid regex");
  expect_error(R"({"pre_tokenizer": {"type": "Bogus"}, )" + ok_model + "}",
               "unsupported type 'Bogus'");
  expect_error(R"({"normalizer": {"type": "NFKD"}, )" + ok_model + "}", "NFKD");
  expect_error(R"({"added_tokens": [{"id": 5, "content": ""}], )" + ok_model + "}", "empty");
  EXPECT_THROW(Tokenizer::from_model_dir(tok_data("no-such-dir")), Error);
  EXPECT_THROW(Tokenizer::from_json_file(tok_data("no-such.json")), Error);
  EXPECT_THROW(test::deepseek_v3().token_text(1 << 30), Error);
}

TEST(Tokenizer, FromGgufStyleParts) {
  // Parts as a GGUF file carries them, taken here from tokenizer.json.
  const auto j = nlohmann::json::parse(test::read_all(tok_data("deepseek-v3/tokenizer.json")));
  TokenizerParts parts;
  parts.tokens.resize(129280);
  for (auto it = j["model"]["vocab"].begin(); it != j["model"]["vocab"].end(); ++it)
    parts.tokens[it.value().get<int32_t>()] = it.key();
  parts.token_types.assign(parts.tokens.size(), 1);
  for (const auto& a : j["added_tokens"]) {
    parts.tokens[a["id"].get<int32_t>()] = a["content"].get<std::string>();
    parts.token_types[a["id"].get<int32_t>()] = a["special"].get<bool>() ? 3 : 4;
  }
  for (const auto& m : j["model"]["merges"]) parts.merges.push_back(m.get<std::string>());
  parts.pre = "deepseek-v3";
  parts.bos_id = 0;
  parts.eos_id = 1;
  parts.add_bos = true;
  const Tokenizer tok = Tokenizer::from_parts(parts);
  const Tokenizer& ref = test::deepseek_v3();
  for (const auto& r : read_jsonl(tok_data("deepseek-v3-vectors.jsonl"))) {
    const std::string text = r["text"].get<std::string>();
    EXPECT_EQ(tok.encode(text), ref.encode(text)) << text;
  }
  EXPECT_EQ(tok.encode("hi", true).front(), 0);
  EXPECT_TRUE(tok.is_special(1));
}

}  // namespace
}  // namespace ds

namespace ds {
namespace {

TEST(Tokenizer, ConcurrentEncodeMatchesSerial) {
  const Tokenizer& tok = test::deepseek_v3();
  std::vector<std::string> texts;
  for (const auto& r : read_jsonl(tok_data("deepseek-v3-vectors.jsonl")))
    texts.push_back(r["text"].get<std::string>());
  std::vector<std::vector<int32_t>> serial;
  for (const auto& t : texts) serial.push_back(tok.encode(t));
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int k = 0; k < 4; ++k)
    threads.emplace_back([&, k] {
      for (size_t i = 0; i < texts.size(); ++i) {
        const size_t j = (i * 7 + k * 13) % texts.size();
        if (tok.encode(texts[j]) != serial[j]) ++mismatches;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace ds
