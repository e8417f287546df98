#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "backend/cpu/kernels.h"
#include "core/error.h"

namespace ds {

namespace {

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool avx512vnni = false, avx512bf16 = false, avx_vnni = false;
  bool amx_tile = false, amx_int8 = false, amx_bf16 = false;
  bool os_avx = false, os_avx512 = false, os_amx = false;
};

CpuFeatures detect() {
  CpuFeatures f;
#if defined(__x86_64__)
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = c & (1u << 27);
  f.fma = c & (1u << 12);
  f.f16c = c & (1u << 29);
  if (osxsave) {
    unsigned lo, hi;
    __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    f.os_avx = (lo & 0x6) == 0x6;
    f.os_avx512 = (lo & 0xe6) == 0xe6;
    f.os_amx = (lo & 0x60000) == 0x60000;  // XTILECFG and XTILEDATA
  }
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    f.avx2 = b & (1u << 5);
    f.avx512f = b & (1u << 16);
    f.avx512dq = b & (1u << 17);
    f.avx512bw = b & (1u << 30);
    f.avx512vl = b & (1u << 31);
    f.avx512vnni = c & (1u << 11);
    f.amx_int8 = d & (1u << 25);
    f.amx_tile = d & (1u << 24);
    f.amx_bf16 = d & (1u << 22);
  }
  if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) {
    f.avx_vnni = a & (1u << 4);
    f.avx512bf16 = a & (1u << 5);
  }
#endif
  return f;
}

const CpuFeatures& features() {
  static const CpuFeatures f = detect();
  return f;
}

std::atomic<const CpuKernels*> g_forced{nullptr};

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return "scalar";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
    case Isa::kAmx:
      return "amx";
    case Isa::kNeon:
      return "neon";
  }
  return "?";
}

bool isa_supported(Isa isa) {
  const CpuFeatures& f = features();
  switch (isa) {
    case Isa::kScalar:
      return true;
    case Isa::kNeon:
#if defined(__aarch64__)
      return true;
#else
      return false;
#endif
    case Isa::kAvx2:
      return f.os_avx && f.avx2 && f.fma && f.f16c;
    case Isa::kAvx512:
      // Not AVX-512 BF16: no file of the avx512 table is built with it (CMakeLists.txt).
      return f.os_avx512 && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx512vnni &&
             f.fma && f.f16c;
    case Isa::kAmx: {
#if defined(__x86_64__)
      if (!isa_supported(Isa::kAvx512) || !f.avx512bf16 || !f.amx_tile || !f.amx_int8 || !f.os_amx)
        return false;
      static const bool granted = amx_enable();  // once per process
      return granted;
#else
      return false;
#endif
    }
  }
  return false;
}

std::vector<Isa> built_isas() {
#if defined(__x86_64__)
  return {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kAmx};
#elif defined(__aarch64__)
  return {Isa::kScalar, Isa::kNeon};
#else
  return {Isa::kScalar};
#endif
}

bool cpu_has_avx_vnni() {
  return features().avx_vnni && isa_supported(Isa::kAvx2);
}

bool cpu_has_amx_bf16() {
  return features().amx_bf16 && isa_supported(Isa::kAmx);
}

const CpuKernels& cpu_kernels_for(Isa isa) {
  switch (isa) {
#if defined(__x86_64__)
    case Isa::kAvx2:
      return kernels_avx2();
    case Isa::kAvx512:
      return kernels_avx512();
    case Isa::kAmx:
      return kernels_amx();
#endif
#if defined(__aarch64__)
    case Isa::kNeon:
      return kernels_neon();
#endif
    default:
      break;
  }
  return kernels_scalar();
}

void set_cpu_isa(Isa isa) {
  if (!isa_supported(isa))
    throw Error(cat("this CPU does not support the ", isa_name(isa), " kernels"));
  g_forced.store(&cpu_kernels_for(isa));
}

const CpuKernels& cpu_kernels() {
  if (const CpuKernels* k = g_forced.load()) return *k;
  static const CpuKernels* chosen = [] {
    if (const char* env = std::getenv("DSINFER_ISA"); env && *env) {
      for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kAmx, Isa::kNeon})
        if (std::strcmp(env, isa_name(isa)) == 0) {
          if (!isa_supported(isa))
            throw Error(cat("DSINFER_ISA=", env, ": this CPU does not support it"));
          return &cpu_kernels_for(isa);
        }
      throw Error(cat("DSINFER_ISA=", env, ": expected scalar, avx2, avx512, amx or neon"));
    }
    for (Isa isa : {Isa::kAmx, Isa::kAvx512, Isa::kAvx2, Isa::kNeon})
      if (isa_supported(isa)) return &cpu_kernels_for(isa);
    return &kernels_scalar();
  }();
  return *chosen;
}

}  // namespace ds
