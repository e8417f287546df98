// How the weight file is brought into memory: the flags shared by the subcommands that load a
// model (src/core/mapped_file.h).
#pragma once

#include <CLI/CLI.hpp>

#include "core/mapped_file.h"

namespace ds::cli {

/// Adds --mmap and --no-mmap to `app`. Without either, files of 64 MiB or more that take at
/// most half of the available memory are read into huge pages, smaller or larger ones mapped.
inline void add_file_loading_options(CLI::App& app) {
  auto* m = app.add_flag_callback(
      "--mmap", [] { set_file_loading(FileLoading::kMmap); },
      "Map the weight file instead of reading it (starts at once and shares the page cache, "
      "but decode streams weights through 4 KiB pages: slower)");
  auto* r = app.add_flag_callback(
      "--no-mmap", [] { set_file_loading(FileLoading::kRead); },
      "Read the weight file into huge-page-backed memory even when it is large for this "
      "machine's available memory (default: read when it takes at most half of it)");
  m->excludes(r);
}

}  // namespace ds::cli
