// Bad GGUF files: each is hand-encoded byte by byte (independently of GgufWriter) with one
// defect, and must be rejected with a ds::Error naming the file and the field.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "io/gguf.h"

namespace ds {
namespace {

// Minimal GGUF encoder for building valid and broken files.
struct Raw {
  std::vector<uint8_t> b;
  Raw& u8(uint8_t v) {
    b.push_back(v);
    return *this;
  }
  Raw& u32(uint32_t v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    b.insert(b.end(), p, p + 4);
    return *this;
  }
  Raw& u64(uint64_t v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    b.insert(b.end(), p, p + 8);
    return *this;
  }
  Raw& str(std::string_view s) {
    u64(s.size());
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Raw& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    return u32(kGgufMagic).u32(version).u64(n_tensors).u64(n_kv);
  }
  Raw& kv_u32(std::string_view key, uint32_t v) { return str(key).u32(4).u32(v); }
  Raw& kv_str(std::string_view key, std::string_view v) { return str(key).u32(8).str(v); }
  Raw& tensor(std::string_view name, std::vector<uint64_t> dims, uint32_t type, uint64_t off) {
    str(name).u32(uint32_t(dims.size()));
    for (uint64_t d : dims) u64(d);
    return u32(type).u64(off);
  }
  Raw& pad(size_t align = 32) {
    while (b.size() % align) b.push_back(0);
    return *this;
  }
  Raw& zeros(size_t n) {
    b.insert(b.end(), n, 0);
    return *this;
  }
};

constexpr uint32_t kF32 = 0, kQ4_0 = 2, kQ4_K = 12;

// A valid file: one string key, two F32 tensors of 8 elements (32 bytes each).
Raw valid_file() {
  Raw r;
  r.header(2, 1).kv_str("general.architecture", "deepseek2");
  r.tensor("a", {8}, kF32, 0).tensor("b", {8}, kF32, 32).pad().zeros(64);
  return r;
}

void expect_error(const Raw& r, const std::string& needle) {
  try {
    GgufFile::parse(r.b.data(), r.b.size(), "bad.gguf");
    ADD_FAILURE() << "parsed without error; expected '" << needle << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("bad.gguf: "), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  }
}

TEST(GgufCorrupt, ValidBaselineParses) {
  const Raw r = valid_file();
  const GgufFile f = GgufFile::parse(r.b.data(), r.b.size(), "ok.gguf");
  EXPECT_EQ(f.tensors().size(), 2u);
  EXPECT_EQ(f.get_string("general.architecture"), "deepseek2");
  // Version 2 has the same layout.
  Raw v2 = r;
  v2.b[4] = 2;
  EXPECT_EQ(GgufFile::parse(v2.b.data(), v2.b.size(), "v2").version(), 2u);
}

TEST(GgufCorrupt, WrongMagic) {
  Raw r = valid_file();
  std::memcpy(r.b.data(), "GGML", 4);
  expect_error(r, "not a GGUF file: magic is 0x4c4d4747");
}

TEST(GgufCorrupt, UnsupportedVersions) {
  Raw r = valid_file();
  r.b[4] = 1;
  expect_error(r, "GGUF version 1");
  r.b[4] = 4;
  expect_error(r, "unsupported GGUF version 4");
  r.b[4] = 0;
  r.b[7] = 3;  // 0x03000000: a big-endian v3 file
  expect_error(r, "big-endian GGUF is not supported");
}

TEST(GgufCorrupt, TruncatedHeader) {
  Raw r;
  expect_error(r, "file too small");
  r.u32(kGgufMagic).u32(3).u32(0);
  expect_error(r, "truncated: tensor count at offset 8 needs 8 bytes, 4 left");
}

TEST(GgufCorrupt, EveryPrefixOfAValidFileIsRejected) {
  const Raw r = valid_file();
  const size_t data_end = r.b.size();
  for (size_t n = 0; n < data_end; ++n) {
    EXPECT_THROW(GgufFile::parse(r.b.data(), n, "prefix"), Error) << "prefix " << n;
  }
}

TEST(GgufCorrupt, TruncatedData) {
  Raw r = valid_file();
  r.b.pop_back();
  expect_error(r, "tensor 'b' (offset 32, 32 bytes) runs past the end of the data section");
}

TEST(GgufCorrupt, StringLengthBeyondFile) {
  Raw r;
  r.header(0, 1).u64(1ull << 40);  // key length
  r.zeros(8);
  expect_error(r,
               "string length 1099511627776 of key of metadata entry 0 at offset 24 runs "
               "past the end of the file");
  Raw v;
  v.header(0, 1).str("k").u32(8).u64(100).zeros(10);  // string value
  expect_error(v, "string length 100 of metadata key 'k'");
}

TEST(GgufCorrupt, ArrayCountBeyondFile) {
  Raw r;
  r.header(0, 1).str("k").u32(9).u32(4).u64(1ull << 62).zeros(16);
  expect_error(r, "metadata key 'k': array of 4611686018427387904 u32 elements cannot fit");
  Raw s;  // string array: each element needs at least its 8-byte length
  s.header(0, 1).str("tokens").u32(9).u32(8).u64(1000).zeros(64);
  expect_error(s, "metadata key 'tokens': array of 1000 string elements cannot fit");
}

TEST(GgufCorrupt, AbsurdCounts) {
  Raw r;
  r.header(1ull << 50, 0).zeros(64);
  expect_error(r, "tensor count 1125899906842624 cannot fit");
  Raw k;
  k.header(0, 1ull << 40).zeros(64);
  expect_error(k, "metadata count 1099511627776 cannot fit");
}

TEST(GgufCorrupt, UnknownValueType) {
  Raw r;
  r.header(0, 1).str("k").u32(13).u32(0);
  expect_error(r, "metadata key 'k' type has unknown value type 13");
  Raw a;
  a.header(0, 1).str("k").u32(9).u32(99).u64(0);
  expect_error(a, "metadata key 'k' element type has unknown value type 99");
}

TEST(GgufCorrupt, InvalidBool) {
  Raw r;
  r.header(0, 1).str("flag").u32(7).u8(2);
  expect_error(r, "metadata key 'flag': invalid bool byte 2");
}

TEST(GgufCorrupt, NestingTooDeep) {
  Raw r;
  r.header(0, 1).str("k").u32(9);
  for (int i = 0; i < 40; ++i) r.u32(9).u64(1);
  r.u32(4).u64(0);
  expect_error(r, "arrays nested deeper than 16");
}

TEST(GgufCorrupt, DuplicateKey) {
  Raw r;
  r.header(0, 2).kv_u32("a.b", 1).kv_u32("a.b", 2);
  expect_error(r, "duplicate metadata key 'a.b'");
}

TEST(GgufCorrupt, EmptyKey) {
  Raw r;
  r.header(0, 1).kv_u32("", 1);
  expect_error(r, "metadata entry 0 at offset 24 has an empty key");
}

TEST(GgufCorrupt, BadAlignment) {
  Raw r;
  r.header(0, 1).kv_u32("general.alignment", 48);
  expect_error(r, "general.alignment 48 is not a power of two");
  Raw t;
  t.header(0, 1).kv_str("general.alignment", "32");
  expect_error(t, "metadata key 'general.alignment' has type string, expected u32");
}

TEST(GgufCorrupt, TooManyDims) {
  Raw r;
  r.header(1, 0).tensor("t", {1, 1, 1, 1, 1}, kF32, 0).pad().zeros(32);
  expect_error(r, "tensor 't' has 5 dims, at most 4");
}

TEST(GgufCorrupt, DimsProductOverflows) {
  Raw r;
  r.header(1, 0).tensor("t", {1ull << 32, 1ull << 32}, kF32, 0).pad().zeros(32);
  expect_error(r, "tensor 't': element count overflows");
  Raw n;
  n.header(1, 0).tensor("t", {~0ull}, kF32, 0).pad().zeros(32);
  expect_error(n, "tensor 't' has a negative dimension");
  Raw b;  // elements fit in int64 but bytes do not
  b.header(1, 0).tensor("t", {1ull << 62}, kF32, 0).pad().zeros(32);
  expect_error(b, "tensor 't': byte size overflows");
}

TEST(GgufCorrupt, UnknownQuantType) {
  Raw r;
  r.header(1, 0).tensor("blk.0.ffn_down.weight", {32}, 31, 0).pad().zeros(32);
  expect_error(r, "tensor 'blk.0.ffn_down.weight' has unknown ggml type 31");
}

TEST(GgufCorrupt, RowNotABlockMultiple) {
  Raw r;
  r.header(1, 0).tensor("w", {100, 2}, kQ4_K, 0).pad().zeros(1024);
  expect_error(r,
               "tensor 'w' of type q4_K has 100 elements per row, not a multiple of the "
               "block size 256");
  Raw q;
  q.header(1, 0).tensor("w", {48}, kQ4_0, 0).pad().zeros(64);
  expect_error(q, "not a multiple of the block size 32");
}

TEST(GgufCorrupt, MisalignedOffset) {
  Raw r;
  r.header(2, 0).tensor("a", {8}, kF32, 0).tensor("b", {8}, kF32, 40).pad().zeros(96);
  expect_error(r, "tensor 'b' offset 40 is not a multiple of the alignment 32");
}

TEST(GgufCorrupt, OffsetOutOfRange) {
  Raw r;
  r.header(1, 0).tensor("a", {8}, kF32, 1ull << 60).pad().zeros(32);
  expect_error(r, "tensor 'a' (offset 1152921504606846976, 32 bytes) runs past the end");
  Raw s;  // offset + size wraps around 2^64
  s.header(1, 0).tensor("a", {8}, kF32, ~0ull - 31).pad().zeros(32);
  expect_error(s, "runs past the end of the data section");
}

TEST(GgufCorrupt, OverlappingTensors) {
  Raw r;
  r.header(2, 0).tensor("a", {16}, kF32, 0).tensor("b", {8}, kF32, 32).pad().zeros(96);
  expect_error(r, "tensors 'a' (offset 0, 64 bytes) and 'b' (offset 32) overlap");
}

TEST(GgufCorrupt, DuplicateTensorName) {
  Raw r;
  r.header(2, 0).tensor("a", {8}, kF32, 0).tensor("a", {8}, kF32, 32).pad().zeros(64);
  expect_error(r, "duplicate tensor 'a'");
}

TEST(GgufCorrupt, ByteFlipsNeverCrash) {
  // Every single-byte corruption of the header region either still parses or throws
  // ds::Error; never anything else (run under ASan/UBSan in CI).
  const Raw base = valid_file();
  for (size_t i = 0; i < base.b.size() - 64; ++i) {
    for (uint8_t v : {uint8_t(0x00), uint8_t(0xff), uint8_t(base.b[i] ^ 0x80)}) {
      Raw r = base;
      r.b[i] = v;
      try {
        GgufFile::parse(r.b.data(), r.b.size(), "flip");
      } catch (const Error&) {
      }
    }
  }
}

TEST(GgufCorrupt, OpenNamesTheFile) {
  try {
    GgufFile::open("/nonexistent/dir/model.gguf");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/model.gguf"), std::string::npos);
  }
}

}  // namespace
}  // namespace ds
