// GgufWriter -> GgufFile round trips: every metadata type, nested arrays, quantised tensors,
// alignment, and the typed getters' conversions and errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "quant/quant.h"

namespace ds {
namespace {

std::string temp_path(const std::string& name) {
  const auto dir = std::filesystem::path(::testing::TempDir());
  return (dir / ("dsinfer_" + std::to_string(::getpid()) + "_" + name)).string();
}

std::vector<uint8_t> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

template <typename T>
std::span<const T> sp(const std::vector<T>& v) {
  return std::span<const T>(v.data(), v.size());
}

TEST(GgufRoundTrip, MetadataOfEveryType) {
  const std::string path = temp_path("meta.gguf");
  {
    GgufWriter w(path);
    w.set_scalar<uint8_t>("t.u8", 200);
    w.set_scalar<int8_t>("t.i8", -100);
    w.set_scalar<uint16_t>("t.u16", 60000);
    w.set_scalar<int16_t>("t.i16", -30000);
    w.set_scalar<uint32_t>("t.u32", 4000000000u);
    w.set_scalar<int32_t>("t.i32", -2000000000);
    w.set_scalar<uint64_t>("t.u64", 1ull << 60);
    w.set_scalar<int64_t>("t.i64", -(1ll << 60));
    w.set_scalar<float>("t.f32", 0.1f);
    w.set_scalar<double>("t.f64", 0.1);
    w.set_scalar<bool>("t.bool", true);
    w.set_string("t.str", std::string("h\xc3\xa9llo\0world", 12));
    w.set_string("t.empty", "");
    const std::vector<int32_t> ints = {1, -2, 3};
    const std::vector<float> floats = {0.5f, -1.5f};
    const bool bools[] = {true, false, true};
    w.set_array<int32_t>("t.arr_i32", sp(ints));
    w.set_array<float>("t.arr_f32", sp(floats));
    w.set_array<bool>("t.arr_bool", std::span<const bool>(bools, 3));
    w.set_array<uint64_t>("t.arr_empty", {});
    w.set_string_array("t.arr_str", {"a", "", "merges \xc4\xa0t"});
    w.set("t.nested", GgufValue::array_of_arrays({GgufValue::string_array({"x", "y"}),
                                                  GgufValue::string_array({}),
                                                  GgufValue::array<int32_t>(sp(ints))}));
    w.set("t.deep", GgufValue::array_of_arrays(
                        {GgufValue::array_of_arrays({GgufValue::string_array({"z"})})}));
    w.finish();
  }
  const GgufFile f = GgufFile::open(path);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.metadata().size(), 20u);
  EXPECT_EQ(f.metadata()[0].key, "t.u8");  // file order kept
  EXPECT_EQ(f.get_u32("t.u8"), 200u);
  EXPECT_EQ(f.get_i32("t.i8"), -100);
  EXPECT_EQ(f.get_u32("t.u16"), 60000u);
  EXPECT_EQ(f.get_i32("t.i16"), -30000);
  EXPECT_EQ(f.get_u32("t.u32"), 4000000000u);
  EXPECT_EQ(f.get_i32("t.i32"), -2000000000);
  EXPECT_EQ(f.get_u64("t.u64"), 1ull << 60);
  EXPECT_EQ(f.get_i64("t.i64"), -(1ll << 60));
  EXPECT_EQ(f.get_f32("t.f32"), 0.1f);
  EXPECT_EQ(f.get_f64("t.f64"), 0.1);
  EXPECT_TRUE(f.get_bool("t.bool"));
  EXPECT_EQ(f.get_string("t.str"), std::string("h\xc3\xa9llo\0world", 12));
  EXPECT_EQ(f.get_string("t.empty"), "");
  EXPECT_EQ(f.get_array<int32_t>("t.arr_i32"), (std::vector<int32_t>{1, -2, 3}));
  EXPECT_EQ(f.get_array<int64_t>("t.arr_i32"), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(f.get_array<float>("t.arr_f32"), (std::vector<float>{0.5f, -1.5f}));
  EXPECT_EQ(f.get_array<bool>("t.arr_bool"), (std::vector<bool>{true, false, true}));
  EXPECT_TRUE(f.get_array<uint64_t>("t.arr_empty").empty());
  EXPECT_EQ(f.get_string_array("t.arr_str"),
            (std::vector<std::string>{"a", "", "merges \xc4\xa0t"}));
  const GgufValue* nested = f.find("t.nested");
  ASSERT_NE(nested, nullptr);
  ASSERT_EQ(nested->element_type(), GgufType::ARRAY);
  ASSERT_EQ(nested->arrays().size(), 3u);
  EXPECT_EQ(nested->arrays()[0].strings(), (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(nested->arrays()[1].size(), 0u);
  EXPECT_EQ(nested->arrays()[2].element_type(), GgufType::I32);
  EXPECT_EQ(f.find("t.deep")->arrays()[0].arrays()[0].strings()[0], "z");
  // No tensors: the file ends right after the metadata.
  EXPECT_TRUE(f.tensors().empty());
  std::filesystem::remove(path);
}

TEST(GgufRoundTrip, GettersConvertAndComplain) {
  const std::string path = temp_path("getters.gguf");
  {
    GgufWriter w(path);
    w.set_scalar<int32_t>("neg", -1);
    w.set_scalar<uint64_t>("big", 1ull << 40);
    w.set_scalar<uint8_t>("small", 7);
    w.set_string("s", "text");
    const std::vector<int64_t> v = {1, 1ll << 40};
    w.set_array<int64_t>("arr", sp(v));
    w.finish();
  }
  const GgufFile f = GgufFile::open(path);
  EXPECT_EQ(f.get_u64("small"), 7u);
  EXPECT_EQ(f.get_i32("small"), 7);
  EXPECT_EQ(f.get_u32("missing", 5u), 5u);
  EXPECT_EQ(f.get_f32("missing", 2.5f), 2.5f);
  EXPECT_EQ(f.get_string("missing", "d"), "d");
  EXPECT_FALSE(f.get_bool("missing", false));
  auto expect_error = [&](auto fn, const std::string& needle) {
    try {
      fn();
      ADD_FAILURE() << "no error; expected '" << needle << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  };
  expect_error([&] { f.get_u32("absent"); }, "metadata key 'absent' is missing");
  expect_error([&] { f.get_u32("neg"); }, "metadata key 'neg' has type i32, expected u32");
  expect_error([&] { f.get_u32("big"); }, "does not fit in u32");
  expect_error([&] { f.get_f32("s"); }, "expected a float");
  expect_error([&] { f.get_string("small"); }, "has type u8, expected string");
  expect_error([&] { f.get_string_array("s"); }, "expected array of string");
  expect_error([&] { f.get_array<int32_t>("arr"); }, "element 1 is not an integer that fits");
  expect_error([&] { f.get_bool("s"); }, "expected bool");
  expect_error([&] { f.tensor("nope"); }, "tensor 'nope' not found");
  std::filesystem::remove(path);
}

TEST(GgufRoundTrip, QuantisedTensorsAndAlignment) {
  for (uint32_t alignment : {32u, 64u, 4096u}) {
    const std::string path = temp_path("tensors.gguf");
    struct Spec {
      std::string name;
      GgmlType type;
      std::vector<int64_t> dims;
    };
    const std::vector<Spec> specs = {
        {"token_embd.weight", GgmlType::Q4_K, {512, 3}},
        {"blk.0.attn_norm.weight", GgmlType::F32, {7}},
        {"blk.0.ffn_gate_exps.weight", GgmlType::Q8_0, {64, 2, 3}},
        {"blk.0.attn_k_b.weight", GgmlType::Q6_K, {256, 1, 2, 1}},
        {"empty", GgmlType::F16, {0, 4}},
        {"output.weight", GgmlType::IQ4_NL, {32, 5}},
    };
    std::vector<std::vector<float>> values;
    std::vector<std::vector<uint8_t>> blobs;
    {
      GgufWriter w(path);
      if (alignment != 32) w.set_scalar<uint32_t>("general.alignment", alignment);
      w.set_string("general.architecture", "deepseek2");
      for (const auto& s : specs) {
        const uint64_t n_bytes = w.add_tensor(s.name, s.type, s.dims);
        int64_t n = 1;
        for (int64_t d : s.dims) n *= d;
        std::vector<float> x(n);
        for (int64_t i = 0; i < n; ++i) x[i] = float((i * 7919) % 201 - 100) / 50.0f;
        std::vector<uint8_t> q(n_bytes);
        const QuantTraits* tr = quant_traits(s.type);
        const int64_t row = s.dims[0];
        for (int64_t r = 0; row > 0 && r < n / row; ++r)
          tr->quantize(x.data() + r * row, q.data() + r * ggml_row_bytes(s.type, row), row);
        values.push_back(x);
        blobs.push_back(q);
      }
      w.write_header();
      // Stream the first tensor in odd-sized chunks, the rest whole.
      const auto& b0 = blobs[0];
      for (size_t off = 0; off < b0.size(); off += 100)
        w.write_tensor_data(b0.data() + off, std::min<size_t>(100, b0.size() - off));
      for (size_t i = 1; i < specs.size(); ++i)
        w.write_tensor(specs[i].name, blobs[i].data(), blobs[i].size());
      w.finish();
    }
    const GgufFile f = GgufFile::open(path);
    EXPECT_EQ(f.alignment(), alignment);
    EXPECT_EQ(f.data_offset() % alignment, 0u);
    ASSERT_EQ(f.tensors().size(), specs.size());
    for (size_t i = 0; i < specs.size(); ++i) {
      SCOPED_TRACE(specs[i].name);
      const GgufTensor t = f.tensor(specs[i].name);
      EXPECT_EQ(t.type, specs[i].type);
      EXPECT_EQ(t.dims, specs[i].dims);
      EXPECT_EQ(t.info->offset % alignment, 0u);
      ASSERT_EQ(t.n_bytes, blobs[i].size());
      if (t.n_bytes > 0) {
        EXPECT_EQ(std::memcmp(t.data, blobs[i].data(), t.n_bytes), 0);
      }
      EXPECT_EQ(uint64_t(t.data - f.tensor_data(f.tensors()[0])) % alignment, 0u);
    }
    // Dequantised Q8_0 data is close to what went in.
    const GgufTensor q8 = f.tensor("blk.0.ffn_gate_exps.weight");
    std::vector<float> y(64);
    dequantize_row_q8_0(q8.data, y.data(), 64);
    for (int i = 0; i < 64; ++i) EXPECT_NEAR(y[i], values[2][i], 0.02f);
    std::filesystem::remove(path);
  }
}

TEST(GgufRoundTrip, WriterRejectsMisuse) {
  const std::string path = temp_path("misuse.gguf");
  GgufWriter w(path);
  EXPECT_THROW(w.add_tensor("x", GgmlType::Q4_0, {33}), Error);  // not a block multiple
  EXPECT_THROW(w.add_tensor(std::string(64, 'n'), GgmlType::F32, {1}), Error);
  EXPECT_THROW(w.add_tensor("x", GgmlType::F32, {1, 1, 1, 1, 1}), Error);
  EXPECT_THROW(w.set_scalar<uint32_t>("general.alignment", 48), Error);
  w.set_scalar<int32_t>("k", 1);
  EXPECT_THROW(w.set_scalar<int32_t>("k", 2), Error);
  w.add_tensor("a", GgmlType::F32, {4});
  w.add_tensor("b", GgmlType::F32, {4});
  EXPECT_THROW(w.add_tensor("a", GgmlType::F32, {4}), Error);
  w.write_header();
  const float data[4] = {};
  EXPECT_THROW(w.write_tensor("b", data, 16), Error);  // out of order
  EXPECT_THROW(w.write_tensor("a", data, 12), Error);  // wrong size
  w.write_tensor("a", data, 16);
  EXPECT_THROW(w.finish(), Error);  // 'b' missing
  std::filesystem::remove(path);
}

TEST(GgufRoundTrip, FileLayoutIsWhatLlamaCppExpects) {
  // Contiguous tensors, each padded to the alignment, offsets relative to the aligned data
  // section that follows the tensor infos.
  const std::string path = temp_path("layout.gguf");
  {
    GgufWriter w(path);
    w.add_tensor("a", GgmlType::F32, {3});
    w.add_tensor("b", GgmlType::F16, {5});
    w.write_header();
    const float a[3] = {1, 2, 3};
    const uint16_t b[5] = {1, 2, 3, 4, 5};
    w.write_tensor("a", a, sizeof(a));
    w.write_tensor("b", b, sizeof(b));
    w.finish();
  }
  const std::vector<uint8_t> bytes = read_all(path);
  // header 24 + 2 infos of (8 + 1 + 4 + 8 + 4 + 8) = 66 -> 90, padded to 96.
  const GgufFile f = GgufFile::parse(bytes.data(), bytes.size(), "layout");
  EXPECT_EQ(f.data_offset(), 96u);
  EXPECT_EQ(f.tensors()[0].offset, 0u);
  EXPECT_EQ(f.tensors()[1].offset, 32u);
  EXPECT_EQ(bytes.size(), 96u + 32u + 32u);  // the last tensor is padded too
  EXPECT_EQ(std::memcmp(bytes.data(), "GGUF", 4), 0);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace ds
