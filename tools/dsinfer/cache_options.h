// The KV-cache element type flag shared by the subcommands that create a cache.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "model/forward.h"

namespace ds::cli {

/// Adds --cache-type auto|f32|bf16 to `app`, writing the parsed type into `t` (unset:
/// auto, resolved against the loaded model with resolve_cache_type).
inline void add_cache_type_option(CLI::App& app, CacheType& t) {
  app.add_option_function<std::string>(
         "--cache-type", [&t](const std::string& name) { t = parse_cache_type(name); },
         "KV-cache element type: f32, bf16 (half the memory and the bytes read per decoded "
         "token), q8_0 (8-bit blocks: a quarter of f32's memory), or auto (default: f32 for "
         "models with f32/f16 weights, bf16 for bf16, fp8 and quantised ones)")
      ->check(CLI::IsMember({"auto", "f32", "bf16", "q8_0"}));
}

}  // namespace ds::cli
