// Subcommand registry: each tools/dsinfer/cmd_*.cpp registers itself, main.cpp runs them.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace ds::cli {

/// A subcommand: `setup` adds its options to `app` and returns the function that runs it
/// (returning the process exit code) once parsing succeeded.
struct Command {
  std::string name;
  std::string help;
  std::function<std::function<int()>(CLI::App& app)> setup;
  int order = 100;  // position in --help
};

std::vector<Command>& registry();

struct Registrar {
  explicit Registrar(Command c) { registry().push_back(std::move(c)); }
};

}  // namespace ds::cli
