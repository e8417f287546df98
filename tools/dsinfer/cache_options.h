// The KV-cache element type flag shared by the subcommands that create a cache.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "model/forward.h"

namespace ds::cli {

/// Adds --cache-type f32|bf16 to `app`, writing the parsed type into `t` (which holds the
/// default on entry).
inline void add_cache_type_option(CLI::App& app, DType& t) {
  app.add_option_function<std::string>(
         "--cache-type", [&t](const std::string& name) { t = parse_cache_type(name); },
         std::string("KV-cache element type: f32, or bf16 (half the memory and the bytes read "
                     "per decoded token; default ") +
             cache_type_name(kDefaultCacheType) + ")")
      ->check(CLI::IsMember({"f32", "bf16"}));
}

}  // namespace ds::cli
