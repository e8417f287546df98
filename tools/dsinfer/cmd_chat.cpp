// `dsinfer chat`: an interactive conversation. Line editing and history (GNU readline),
// multi-line input, streamed replies with thinking dimmed, Ctrl-C stops a reply, slash
// commands, and earlier turns kept in the KV cache.
#include <readline/history.h>
#include <readline/readline.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cache_options.h"
#include "command.h"
#include "core/error.h"
#include "load_options.h"
#include "model/forward.h"
#include "model_loading.h"
#include "runtime/generator.h"
#include "runtime/reasoning.h"
#include "runtime/thread_pool.h"
#include "sampling_options.h"

namespace ds::cli {
namespace {

std::atomic<bool> g_interrupted{false};
std::atomic<bool> g_generating{false};

void on_sigint(int) {
  g_interrupted = true;
  if (!g_generating) {
    // At the prompt: abandon the line being typed, as shells do.
    rl_replace_line("", 0);
    rl_crlf();
    rl_on_new_line();
    rl_redisplay();
  }
}

struct Opts {
  std::string model, system;
  int64_t n_predict = 2048;
  int64_t ctx = 4096;
  CacheType cache_type;
  int threads = 0;
  bool hide_thinking = false, verbose = false;
  SamplingParams sampling;
  SpecOptions spec;
};

constexpr const char* kDim = "\x1b[2m";
constexpr const char* kReset = "\x1b[0m";
constexpr const char* kHelp =
    "Commands:\n"
    "  /system TEXT      set the system prompt (starts a new conversation)\n"
    "  /clear            forget the conversation\n"
    "  /save FILE        save the conversation as JSON messages\n"
    "  /load FILE        load a conversation saved with /save\n"
    "  /set NAME VALUE   temperature, top_p, top_k, min_p, seed, max_tokens,\n"
    "                    repeat_penalty, presence_penalty, frequency_penalty\n"
    "  /show             show the settings\n"
    "  /help             this text\n"
    "  /exit, /quit      leave (or Ctrl-D)\n"
    "End a line with \\ to continue it on the next line; wrap text in \"\"\" for blocks.\n"
    "Ctrl-C stops the current reply.\n";

class Chat {
 public:
  Chat(Opts o) : o_(std::move(o)) {}

  int run() {
    interactive_ = isatty(0) && isatty(1);
    lm_ = load_model(o_.model, o_.verbose || interactive_);
    pool_ =
        std::make_unique<ThreadPool>(o_.threads > 0 ? o_.threads : ThreadPool::default_threads());
    session_ = std::make_unique<Session>(
        *lm_.model, *pool_, std::min<int64_t>(o_.ctx, lm_.model->config.max_position_embeddings),
        o_.cache_type);
    if (o_.spec.drafts_for(*lm_.model) > 0) session_->set_keep_hidden(true);
    reset();
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    if (interactive_) {
      rl_catch_signals = 0;
      const char* home = std::getenv("HOME");
      if (home) history_path_ = std::string(home) + "/.dsinfer_history";
      if (!history_path_.empty()) read_history(history_path_.c_str());
      std::printf("dsinfer chat with %s. /help for commands, Ctrl-D to leave.\n",
                  lm_.model->name.c_str());
    }
    std::string input;
    while (read_input(&input)) {
      if (input.empty()) continue;
      if (input[0] == '/') {
        if (!command(input)) break;
        continue;
      }
      turn(input);
    }
    if (interactive_ && !history_path_.empty()) write_history(history_path_.c_str());
    return 0;
  }

 private:
  void reset() {
    messages_ = nlohmann::json::array();
    if (!o_.system.empty()) messages_.push_back({{"role", "system"}, {"content", o_.system}});
  }

  // One logical input: continuation lines (trailing backslash) and """ blocks joined.
  bool read_input(std::string* out) {
    out->clear();
    bool block = false;
    for (;;) {
      std::string line;
      if (!read_line(out->empty() && !block ? ">>> " : "... ", &line)) return !out->empty();
      if (!block && out->empty() && line.rfind("\"\"\"", 0) == 0) {
        block = true;
        line = line.substr(3);
        if (line.size() >= 3 && line.compare(line.size() - 3, 3, "\"\"\"") == 0) {
          *out = line.substr(0, line.size() - 3);
          return true;
        }
        *out = line;
        continue;
      }
      if (block) {
        const size_t end = line.find("\"\"\"");
        if (end != std::string::npos) {
          *out += (out->empty() ? "" : "\n") + line.substr(0, end);
          return true;
        }
        *out += "\n" + line;
        continue;
      }
      if (!line.empty() && line.back() == '\\') {
        *out += line.substr(0, line.size() - 1) + "\n";
        continue;
      }
      *out += line;
      return true;
    }
  }

  bool read_line(const char* prompt, std::string* line) {
    g_interrupted = false;
    if (!interactive_) {
      if (!std::getline(std::cin, *line)) return false;
      return true;
    }
    char* s = readline(prompt);
    if (!s) {
      std::printf("\n");
      return false;
    }
    *line = s;
    if (*s) add_history(s);
    std::free(s);
    return true;
  }

  bool command(const std::string& input) {
    std::istringstream in(input);
    std::string cmd;
    in >> cmd;
    std::string rest;
    std::getline(in, rest);
    rest.erase(0, rest.find_first_not_of(' '));
    if (cmd == "/exit" || cmd == "/quit" || cmd == "/bye") return false;
    if (cmd == "/help") {
      std::fputs(kHelp, stdout);
    } else if (cmd == "/clear") {
      reset();
      std::printf("(conversation cleared)\n");
    } else if (cmd == "/system") {
      o_.system = rest;
      reset();
      std::printf("(system prompt set; new conversation)\n");
    } else if (cmd == "/save") {
      std::ofstream f(rest);
      if (rest.empty() || !f) {
        std::printf("cannot write '%s'\n", rest.c_str());
      } else {
        f << messages_.dump(2) << "\n";
        std::printf("(saved %zu messages to %s)\n", messages_.size(), rest.c_str());
      }
    } else if (cmd == "/load") {
      std::ifstream f(rest);
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(f);
      } catch (const nlohmann::json::exception& e) {
        std::printf("cannot load '%s': %s\n", rest.c_str(), e.what());
        return true;
      }
      if (!j.is_array()) {
        std::printf("cannot load '%s': expected a JSON array of messages\n", rest.c_str());
        return true;
      }
      messages_ = j;
      std::printf("(loaded %zu messages)\n", messages_.size());
    } else if (cmd == "/set") {
      set(rest);
    } else if (cmd == "/show") {
      const SamplingParams& p = o_.sampling;
      std::printf(
          "temperature %g, top_p %g, top_k %d, min_p %g, seed %llu, max_tokens %lld, "
          "repeat_penalty %g, "
          "presence_penalty %g, frequency_penalty %g\n",
          p.temperature, p.top_p, p.top_k, p.min_p, (unsigned long long)p.seed,
          (long long)o_.n_predict, p.repetition_penalty, p.presence_penalty, p.frequency_penalty);
    } else {
      std::printf("unknown command %s (try /help)\n", cmd.c_str());
    }
    return true;
  }

  void set(const std::string& args) {
    std::istringstream in(args);
    std::string name, value;
    in >> name >> value;
    SamplingParams& p = o_.sampling;
    try {
      size_t used = 0;
      const double v = std::stod(value, &used);
      if (used != value.size()) throw std::invalid_argument(value);
      if (name == "temperature" || name == "temp")
        p.temperature = float(v);
      else if (name == "top_p")
        p.top_p = float(v);
      else if (name == "top_k")
        p.top_k = int32_t(v);
      else if (name == "min_p")
        p.min_p = float(v);
      else if (name == "seed")
        p.seed = uint64_t(v);
      else if (name == "max_tokens")
        o_.n_predict = int64_t(v);
      else if (name == "repeat_penalty")
        p.repetition_penalty = float(v);
      else if (name == "presence_penalty")
        p.presence_penalty = float(v);
      else if (name == "frequency_penalty")
        p.frequency_penalty = float(v);
      else {
        std::printf("unknown setting '%s' (try /help)\n", name.c_str());
        return;
      }
      std::printf("(%s = %s)\n", name.c_str(), value.c_str());
    } catch (const std::exception&) {
      std::printf("usage: /set NAME NUMBER\n");
    }
  }

  void turn(const std::string& text) {
    messages_.push_back({{"role", "user"}, {"content", text}});
    std::string prompt_text;
    std::vector<int32_t> prompt;
    try {
      prompt = chat_prompt(lm_, messages_, &prompt_text);
    } catch (const Error& e) {
      std::printf("error: %s\n", e.what());
      messages_.erase(messages_.size() - 1);
      return;
    }
    ReasoningSplitter split(prompt_opens_reasoning(prompt_text));
    std::string reasoning, content;
    bool dim = false;
    auto show = [&](const ReasoningSplitter::Piece& p) {
      reasoning += p.reasoning;
      content += p.content;
      if (!p.reasoning.empty() && !o_.hide_thinking) {
        if (interactive_ && !dim) std::fputs(kDim, stdout), dim = true;
        std::fputs(p.reasoning.c_str(), stdout);
      }
      if (!p.content.empty()) {
        if (dim) {
          std::fputs(kReset, stdout);
          dim = false;
          std::fputs("\n\n", stdout);
        }
        std::fputs(p.content.c_str(), stdout);
      }
      std::fflush(stdout);
    };
    GenerationParams gp;
    gp.max_tokens = o_.n_predict;
    gp.sampling = o_.sampling;
    gp.spec_draft = o_.spec.drafts_for(*lm_.model);
    gp.spec_min_accept = o_.spec.min_accept_for(*lm_.model, gp.spec_draft);
    g_interrupted = false;
    g_generating = true;
    GenerationResult res;
    try {
      res = generate(*session_, *lm_.tokenizer, prompt, gp, [&](int32_t, const std::string& piece) {
        if (g_interrupted) return false;
        show(split.feed(piece));
        return true;
      });
    } catch (const Error& e) {
      g_generating = false;
      std::printf("error: %s\n", e.what());
      messages_.erase(messages_.size() - 1);
      return;
    }
    g_generating = false;
    show(split.flush());
    if (dim) std::fputs(kReset, stdout);
    if (res.finish_reason == "cancelled") std::fputs(" [stopped]", stdout);
    std::fputs("\n", stdout);
    if (o_.verbose)
      std::fprintf(stderr,
                   "(%lld prompt tokens, %lld from cache; %zu generated at %.1f tokens/s)\n",
                   (long long)res.n_prompt, (long long)res.n_cached, res.tokens.size(),
                   double(res.tokens.size()) / std::max(res.decode_s, 1e-9));
    // Keep the reply as generated (thinking included); the template decides what later
    // turns see of it (R1's drops the thinking).
    messages_.push_back({{"role", "assistant"}, {"content", res.text}});
  }

  Opts o_;
  bool interactive_ = false;
  std::string history_path_;
  LoadedModel lm_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<Session> session_;
  nlohmann::json messages_;
};

const Registrar reg{
    {"chat", "Talk with a model interactively (history, slash commands, Ctrl-C stops a reply)",
     [](CLI::App& app) -> std::function<int()> {
       auto o = std::make_shared<Opts>();
       app.add_option("-m,--model", o->model, "Model directory (default: the embedded model)");
       app.add_option("-s,--system", o->system, "System prompt");
       app.add_option("-n,--n-predict", o->n_predict, "Maximum tokens per reply")
           ->check(CLI::PositiveNumber);
       app.add_option("-c,--ctx-size", o->ctx, "Context size in tokens")
           ->check(CLI::PositiveNumber);
       add_cache_type_option(app, o->cache_type);
       add_file_loading_options(app);
       app.add_option("-t,--threads", o->threads, "Threads (default: physical cores)")
           ->check(CLI::NonNegativeNumber);
       app.add_flag("--hide-thinking", o->hide_thinking, "Do not show the reasoning");
       app.add_flag("-v,--verbose", o->verbose, "Show speed figures after each reply");
       add_sampling_options(app, o->sampling);
       add_spec_options(app, o->spec);
       return [o] { return Chat(*o).run(); };
     },
     20}};

}  // namespace
}  // namespace ds::cli
