#include "io/safetensors.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace ds {
namespace {

using testing::expect_error;
using testing::TempDir;
using testing::write_file;

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[size_t(i)] = char((v >> (8 * i)) & 0xff);
  return s;
}

// A safetensors file from a header JSON and a data section.
std::string make_file(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}

// As the reference writer does: the header padded with spaces to a multiple of 8.
std::string padded(std::string header) {
  while (header.size() % 8) header += ' ';
  return header;
}

std::string two_tensors_header(uint64_t a_end, uint64_t b_begin, uint64_t b_end) {
  nlohmann::json h;
  h["a"] = {{"dtype", "F32"}, {"shape", {2, 2}}, {"data_offsets", {0, a_end}}};
  h["b"] = {{"dtype", "BF16"}, {"shape", {4}}, {"data_offsets", {b_begin, b_end}}};
  h["__metadata__"] = {{"format", "pt"}};
  return h.dump();
}

TEST(Safetensors, ReadsAValidFile) {
  TempDir d;
  std::string data(24, '\0');
  float one = 1.0f;
  std::memcpy(data.data(), &one, 4);
  write_file(d.file("m.safetensors"), make_file(padded(two_tensors_header(16, 16, 24)), data));
  SafetensorsFile f(d.file("m.safetensors"));
  ASSERT_EQ(f.tensors().size(), 2u);
  const TensorInfo& a = f.tensors().at("a");
  EXPECT_EQ(a.dtype, DType::F32);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(a.n_bytes, 16u);
  EXPECT_EQ(reinterpret_cast<const float*>(a.data)[0], 1.0f);
  EXPECT_EQ(f.tensors().at("b").n_elements(), 4);
}

TEST(Safetensors, MisalignedDataIsReadCorrectly) {
  TempDir d;  // header of odd length: every tensor starts at an odd address
  nlohmann::json h;
  h["a"] = {{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {0, 8}}};
  std::string header = h.dump() + " ";
  if (header.size() % 2 == 0) header += " ";
  std::string data(8, '\0');
  const float v[2] = {1.5f, -2.0f};
  std::memcpy(data.data(), v, 8);
  write_file(d.file("m.safetensors"), make_file(header, data));
  SafetensorsFile f(d.file("m.safetensors"));
  const float* p = reinterpret_cast<const float*>(f.tensors().at("a").data);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 4, 0u);
  EXPECT_EQ(p[0], 1.5f);
  EXPECT_EQ(p[1], -2.0f);
}

TEST(Safetensors, RejectsShortFile) {
  TempDir d;
  write_file(d.file("m.safetensors"), "abc");
  expect_error([&] { SafetensorsFile f(d.file("m.safetensors")); }, "too short");
}

TEST(Safetensors, RejectsHeaderPastEnd) {
  TempDir d;
  write_file(d.file("m.safetensors"), le64(1000) + "{}");
  expect_error([&] { SafetensorsFile f(d.file("m.safetensors")); }, "exceeds file size");
}

TEST(Safetensors, RejectsAbsurdHeaderLength) {
  TempDir d;
  write_file(d.file("m.safetensors"), le64(1ull << 62) + "{}");
  expect_error([&] { SafetensorsFile f(d.file("m.safetensors")); }, "absurd");
}

TEST(Safetensors, RejectsMalformedJson) {
  TempDir d;
  write_file(d.file("m.safetensors"), make_file("{\"a\": [1,", ""));
  expect_error([&] { SafetensorsFile f(d.file("m.safetensors")); },
               "malformed safetensors header JSON");
}

TEST(Safetensors, RejectsOffsetsPastTheEnd) {
  TempDir d;  // truncated data: header promises 24 bytes, file has 20
  write_file(d.file("m.safetensors"),
             make_file(two_tensors_header(16, 16, 24), std::string(20, '\0')));
  expect_error([&] { SafetensorsFile f(d.file("m.safetensors")); }, "past the end of the data");
}

TEST(Safetensors, RejectsOverlappingTensors) {
  TempDir d;
  nlohmann::json h;
  h["a"] = {{"dtype", "F32"}, {"shape", {4}}, {"data_offsets", {0, 16}}};
  h["b"] = {{"dtype", "F32"}, {"shape", {4}}, {"data_offsets", {8, 24}}};
  write_file(d.file("m.safetensors"), make_file(h.dump(), std::string(24, '\0')));
  expect_error([&] { SafetensorsFile f(d.file("m.safetensors")); }, "overlap");
}

TEST(Safetensors, RejectsSizeThatDisagreesWithShape) {
  TempDir d;
  write_file(d.file("m.safetensors"),
             make_file(two_tensors_header(12, 16, 24), std::string(24, '\0')));
  expect_error([&] { SafetensorsFile f(d.file("m.safetensors")); },
               "holds 12 bytes but shape and dtype F32 need 16");
}

TEST(Safetensors, RejectsAbsurdShape) {
  TempDir d;
  nlohmann::json h;
  h["a"] = {{"dtype", "F32"}, {"shape", {1ull << 39, 1ull << 39}}, {"data_offsets", {0, 16}}};
  write_file(d.file("m.safetensors"), make_file(h.dump(), std::string(16, '\0')));
  expect_error([&] { SafetensorsFile f(d.file("m.safetensors")); }, "absurdly large");
}

TEST(Safetensors, RejectsUnknownDtypeAndBadFields) {
  TempDir d;
  nlohmann::json h;
  h["a"] = {{"dtype", "F4"}, {"shape", {4}}, {"data_offsets", {0, 2}}};
  write_file(d.file("m.safetensors"), make_file(h.dump(), std::string(2, '\0')));
  expect_error([&] { SafetensorsFile f(d.file("m.safetensors")); }, "unsupported dtype 'F4'");
  h["a"] = {{"dtype", "F32"}, {"shape", {-4}}, {"data_offsets", {0, 16}}};
  write_file(d.file("m.safetensors"), make_file(h.dump(), std::string(16, '\0')));
  expect_error([&] { SafetensorsFile f(d.file("m.safetensors")); }, "non-integer or negative");
  h["a"] = {{"dtype", "F32"}, {"shape", {4}}};
  write_file(d.file("m.safetensors"), make_file(h.dump(), std::string(16, '\0')));
  expect_error([&] { SafetensorsFile f(d.file("m.safetensors")); }, "data_offsets");
  write_file(d.file("m.safetensors"), make_file("[1, 2]", ""));
  expect_error([&] { SafetensorsFile f(d.file("m.safetensors")); }, "not a JSON object");
}

TEST(TensorStore, ReadsShardsThroughTheIndex) {
  TempDir d;
  nlohmann::json h1, h2;
  h1["x"] = {{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", {0, 4}}};
  h2["y"] = {{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", {0, 4}}};
  write_file(d.file("model-00001-of-00002.safetensors"),
             make_file(h1.dump(), std::string(4, '\0')));
  write_file(d.file("model-00002-of-00002.safetensors"),
             make_file(h2.dump(), std::string(4, '\0')));
  nlohmann::json idx;
  idx["weight_map"] = {{"x", "model-00001-of-00002.safetensors"},
                       {"y", "model-00002-of-00002.safetensors"}};
  write_file(d.file("model.safetensors.index.json"), idx.dump());
  TensorStore s = TensorStore::open(d.path());
  EXPECT_EQ(s.n_files(), 2u);
  ASSERT_NE(s.find("x"), nullptr);
  ASSERT_NE(s.find("y"), nullptr);
  EXPECT_EQ(s.find("z"), nullptr);

  idx["weight_map"]["y"] = "model-00001-of-00002.safetensors";  // index lies about the shard
  write_file(d.file("model.safetensors.index.json"), idx.dump());
  expect_error([&] { TensorStore::open(d.path()); }, "tensor 'y' is not in shard");
  idx["weight_map"]["y"] = "missing.safetensors";
  write_file(d.file("model.safetensors.index.json"), idx.dump());
  expect_error([&] { TensorStore::open(d.path()); }, "which does not exist");
  idx["weight_map"]["y"] = "../etc/passwd";
  write_file(d.file("model.safetensors.index.json"), idx.dump());
  expect_error([&] { TensorStore::open(d.path()); }, "plain file name");
}

TEST(TensorStore, MissingPathsAreClearErrors) {
  TempDir d;
  expect_error([&] { TensorStore::open(d.file("nope")); }, "no such file or directory");
  expect_error([&] { TensorStore::open(d.path()); }, "no model.safetensors");
}

// Whether every page of [p, p + n) is still mapped (msync fails with ENOMEM otherwise).
bool mapped(const void* p, size_t n) {
  return msync(const_cast<void*>(p), n, MS_ASYNC) == 0;
}

// Page-aligned anonymous memory holding `bytes`, as an embedded model or a buffer may be.
struct PageBuffer {
  explicit PageBuffer(const std::string& bytes) : size(bytes.size()) {
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT_NE(p, MAP_FAILED);
    data = static_cast<uint8_t*>(p);
    std::memcpy(data, bytes.data(), size);
  }
  ~PageBuffer() { munmap(data, size); }
  uint8_t* data;
  size_t size;
};

// Found by tests/fuzz/safetensors_fuzz (corpus input regress-borrowed-input-unmapped): moving a
// borrowed MappedFile lost its "not owned" flag, so destroying the TensorStore (or failing to
// parse) unmapped memory the store had only borrowed.
TEST(TensorStore, FromMemoryNeverUnmapsTheBorrowedBytes) {
  PageBuffer valid(make_file(padded(two_tensors_header(16, 16, 24)), std::string(24, '\0')));
  {
    const TensorStore s = TensorStore::from_memory(valid.data, valid.size, "embedded");
    ASSERT_NE(s.find("a"), nullptr);
  }
  EXPECT_TRUE(mapped(valid.data, valid.size));

  PageBuffer invalid(make_file("{not json", ""));
  expect_error([&] { TensorStore::from_memory(invalid.data, invalid.size, "embedded"); },
               "malformed safetensors header JSON");
  EXPECT_TRUE(mapped(invalid.data, invalid.size));
}

TEST(MappedFile, MovedBorrowedViewStaysUnowned) {
  PageBuffer buf(std::string(100, 'x'));
  {
    MappedFile a = MappedFile::borrow(buf.data, buf.size, "buf");
    MappedFile b(std::move(a));
    MappedFile c;
    c = std::move(b);
    EXPECT_EQ(c.data(), buf.data);
    EXPECT_EQ(c.size(), buf.size);
  }
  EXPECT_TRUE(mapped(buf.data, buf.size));
}

}  // namespace
}  // namespace ds
