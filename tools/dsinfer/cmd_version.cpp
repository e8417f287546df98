// `dsinfer version`: build and CPU-kernel information.
#include <cstdio>
#include <memory>
#include <string>

#include "backend/cpu/kernels.h"
#include "command.h"
#include "core/error.h"
#include "runtime/thread_pool.h"

namespace ds::cli {
namespace {

int run(const std::string& isa) {
  if (!isa.empty()) {
    for (Isa i : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kAmx, Isa::kNeon})
      if (isa == isa_name(i)) {
        if (!isa_supported(i)) throw Error(cat("this CPU cannot run the ", isa, " kernels"));
        std::printf("%s: supported\n", isa.c_str());
        return 0;
      }
    throw Error(cat("unknown ISA '", isa, "' (expected scalar, avx2, avx512, amx or neon)"));
  }
  std::printf("dsinfer 0.1.0\n");
  std::printf("kernels: %s (supported:", cpu_kernels().name);
  for (Isa i : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kAmx, Isa::kNeon})
    if (isa_supported(i)) std::printf(" %s", isa_name(i));
  std::printf(")\n");
  if (cpu_kernels().isa == Isa::kAvx2)
    std::printf("integer tiles: %s\n", cpu_has_avx_vnni() ? "vpdpbusd (AVX-VNNI)" : "vpmaddubsw");
  std::printf("physical cores: %d\n", ThreadPool::default_threads());
  return 0;
}

const Registrar reg{{"version", "Show the version and the CPU kernels in use",
                     [](CLI::App& app) -> std::function<int()> {
                       auto isa = std::make_shared<std::string>();
                       app.add_option("--isa", *isa,
                                      "Exit 0 when this CPU can run the named kernels");
                       return [isa] { return run(*isa); };
                     },
                     200}};

}  // namespace
}  // namespace ds::cli
