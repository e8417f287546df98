// dsinfer: one binary, many subcommands. Errors from bad input are reported here, once.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>

#include "command.h"
#include "core/error.h"

namespace ds::cli {
std::vector<Command>& registry() {
  static std::vector<Command> r;
  return r;
}
}  // namespace ds::cli

namespace {

// Weights are memory-mapped: a file truncated or rewritten by another process while dsinfer
// runs turns the next read of a vanished page into SIGBUS. Nothing can continue from that,
// but the user gets a sentence instead of "Bus error" (async-signal-safe: write + _exit).
void on_sigbus(int) {
  static const char msg[] =
      "error: a memory-mapped model file changed size while in use (was it truncated or "
      "rewritten by another program?)\n";
  ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)ignored;
  _exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigbus;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, nullptr);

  CLI::App app{"dsinfer: run DeepSeek-V3/R1/V2 models on ordinary CPUs"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "dsinfer 0.1.0");
  auto& cmds = ds::cli::registry();
  std::sort(cmds.begin(), cmds.end(), [](const auto& a, const auto& b) {
    return a.order != b.order ? a.order < b.order : a.name < b.name;
  });
  std::function<int()> to_run;
  std::vector<std::pair<CLI::App*, std::function<int()>>> runners;
  for (auto& c : cmds) {
    CLI::App* sub = app.add_subcommand(c.name, c.help);
    runners.emplace_back(sub, c.setup(*sub));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (auto& [sub, fn] : runners)
      if (sub->parsed()) return fn();
  } catch (const ds::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "internal error: %s\n", e.what());
    return 2;
  }
  return 0;
}
