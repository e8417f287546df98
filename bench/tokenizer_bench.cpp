// Tokenizer throughput (single thread) on ~1 MB of English and ~1 MB of mixed-script text,
// and the load time of DeepSeek-V3's 8 MB tokenizer.json.
//   ./build/dsinfer_bench --benchmark_filter=Tokenizer
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace {

// The test copy of DeepSeek-V3's tokenizer, found from this file's path (CMake compiles
// with absolute paths); DSINFER_TOKENIZER_DIR overrides it.
const std::string kModelDir = [] {
  if (const char* env = std::getenv("DSINFER_TOKENIZER_DIR")) return std::string(env);
  return (std::filesystem::path(__FILE__).parent_path().parent_path() / "tests" / "data" /
          "tokenizer" / "deepseek-v3")
      .string();
}();

const ds::Tokenizer& tokenizer() {
  static const ds::Tokenizer t = ds::Tokenizer::from_model_dir(kModelDir);
  return t;
}

// Pseudo-English: words drawn with a Zipf-like skew, sentences and paragraphs.
std::string english_corpus(size_t bytes) {
  static const char* const kWords[] = {"the",
                                       "of",
                                       "and",
                                       "to",
                                       "in",
                                       "a",
                                       "is",
                                       "that",
                                       "for",
                                       "it",
                                       "as",
                                       "was",
                                       "with",
                                       "be",
                                       "by",
                                       "on",
                                       "not",
                                       "he",
                                       "I",
                                       "this",
                                       "are",
                                       "or",
                                       "his",
                                       "from",
                                       "at",
                                       "which",
                                       "but",
                                       "have",
                                       "an",
                                       "had",
                                       "they",
                                       "you",
                                       "were",
                                       "their",
                                       "one",
                                       "all",
                                       "we",
                                       "can",
                                       "her",
                                       "has",
                                       "there",
                                       "been",
                                       "if",
                                       "more",
                                       "when",
                                       "will",
                                       "would",
                                       "who",
                                       "so",
                                       "no",
                                       "model",
                                       "inference",
                                       "tokenizer",
                                       "performance",
                                       "throughput",
                                       "memory",
                                       "bandwidth",
                                       "attention",
                                       "expert",
                                       "routing",
                                       "quantization",
                                       "language",
                                       "computer",
                                       "science",
                                       "government",
                                       "development",
                                       "information",
                                       "international",
                                       "understanding",
                                       "responsibility",
                                       "characteristics",
                                       "don't",
                                       "it's",
                                       "we're",
                                       "they've",
                                       "I'll"};
  std::mt19937 rng(42);
  std::string s;
  s.reserve(bytes + 64);
  size_t in_sentence = 0;
  while (s.size() < bytes) {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    const size_t idx = static_cast<size_t>(u * u * u * (sizeof(kWords) / sizeof(kWords[0])));
    std::string w = kWords[idx];
    if (in_sentence == 0) w[0] = static_cast<char>(std::toupper(w[0]));
    s += w;
    if (++in_sentence > 8 + rng() % 12) {
      s += rng() % 7 == 0 ? ".\n\n" : ". ";
      in_sentence = 0;
    } else {
      s += rng() % 15 == 0 ? ", " : " ";
    }
  }
  return s;
}

// Mixed scripts: CJK, code, emoji, digits, Cyrillic, Arabic, and English.
std::string mixed_corpus(size_t bytes) {
  static const char* const kPieces[] = {
      "深度求索是一家专注于人工智能的公司。",
      "今天天气很好，我们去公园散步吧！",
      "日本語のテキストとカタカナ、ひらがな。",
      "한국어 문장도 포함되어 있습니다. ",
      "def forward(self, x):\n    return self.proj(x) + 1\n",
      "for (int i = 0; i < n; ++i) {\n",
      "  sum += a[i] * b[i];\n}\n",
      "{\"id\": 12345, \"score\": 0.987, \"tags\": [\"a\", \"b\"]}\n",
      "Emoji 😀🚀👍🏽🎉 and flags 🇫🇷🇯🇵 ",
      "Числа 3.14159 и 2.71828, 1234567890. ",
      "مرحبا بالعالم ",
      "The quick brown fox jumps over the lazy dog. ",
      "\t\tindent\r\n",
      "https://example.com/path?q=1&x=%20 ",
      "ÀÉÎÕÜ ñ ç ß ø å ",
      "$ ls -la | grep .cpp\n"};
  std::mt19937 rng(7);
  std::string s;
  s.reserve(bytes + 128);
  while (s.size() < bytes) s += kPieces[rng() % (sizeof(kPieces) / sizeof(kPieces[0]))];
  return s;
}

void run_encode(benchmark::State& state, const std::string& text) {
  const ds::Tokenizer& tok = tokenizer();
  size_t n_tokens = 0;
  tok.encode(text);  // warm the word cache as a long-running server would have it
  for (auto _ : state) {
    auto ids = tok.encode(text);
    n_tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(n_tokens);
}

void BM_TokenizerEncodeEnglish(benchmark::State& state) {
  static const std::string text = english_corpus(1 << 20);
  run_encode(state, text);
}
BENCHMARK(BM_TokenizerEncodeEnglish)->Unit(benchmark::kMillisecond);

void BM_TokenizerEncodeMixed(benchmark::State& state) {
  static const std::string text = mixed_corpus(1 << 20);
  run_encode(state, text);
}
BENCHMARK(BM_TokenizerEncodeMixed)->Unit(benchmark::kMillisecond);

void BM_TokenizerEncodeEnglishCold(benchmark::State& state) {
  // A fresh tokenizer per iteration would measure loading; instead use unseen text: the
  // word cache helps only within the text itself.
  static const std::string text = english_corpus(1 << 20);
  for (auto _ : state) {
    state.PauseTiming();
    const ds::Tokenizer tok = ds::Tokenizer::from_model_dir(kModelDir);
    state.ResumeTiming();
    auto ids = tok.encode(text);
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_TokenizerEncodeEnglishCold)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_TokenizerDecode(benchmark::State& state) {
  static const std::string text = mixed_corpus(1 << 20);
  const auto ids = tokenizer().encode(text);
  for (auto _ : state) {
    auto s = tokenizer().decode(ids);
    benchmark::DoNotOptimize(s.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_TokenizerDecode)->Unit(benchmark::kMillisecond);

void BM_TokenizerLoadDeepSeekV3(benchmark::State& state) {
  for (auto _ : state) {
    auto t = ds::Tokenizer::from_model_dir(kModelDir);
    benchmark::DoNotOptimize(&t);
  }
}
BENCHMARK(BM_TokenizerLoadDeepSeekV3)->Unit(benchmark::kMillisecond)->Iterations(5);

void BM_ChatTemplateRenderV3(benchmark::State& state) {
  const ds::ChatTemplate t = ds::ChatTemplate::from_tokenizer_config(kModelDir);
  nlohmann::json msgs = nlohmann::json::array();
  for (int i = 0; i < 20; ++i) {
    msgs.push_back({{"role", "user"}, {"content", "Question number " + std::to_string(i)}});
    msgs.push_back({{"role", "assistant"}, {"content", "Answer number " + std::to_string(i)}});
  }
  for (auto _ : state) {
    auto s = t.render(msgs, true);
    benchmark::DoNotOptimize(s.data());
  }
}
BENCHMARK(BM_ChatTemplateRenderV3)->Unit(benchmark::kMicrosecond);

}  // namespace
