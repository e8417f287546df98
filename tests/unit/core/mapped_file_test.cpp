// MappedFile reads or maps a file to the same bytes whatever the loading mode, and names the
// file in its errors; HugeBuffer is zeroed, aligned, and copies and moves like a value.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/huge_buffer.h"
#include "core/mapped_file.h"

namespace ds {
namespace {

class MappedFileTest : public ::testing::Test {
 protected:
  void TearDown() override { set_file_loading(previous_); }
  std::string write(const std::string& name, const std::vector<uint8_t>& bytes) {
    const auto p = std::filesystem::temp_directory_path() /
                   ("dsinfer_mapped_" +
                    std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" + name);
    std::ofstream(p, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    paths_.push_back(p);
    return p.string();
  }
  ~MappedFileTest() override {
    for (const auto& p : paths_) std::filesystem::remove(p);
  }

 private:
  FileLoading previous_ = file_loading();
  std::vector<std::filesystem::path> paths_;
};

TEST_F(MappedFileTest, ReadAndMappedBytesAgree) {
  // 3 MiB + 5 bytes: more than one huge page, not a multiple of any page size.
  std::vector<uint8_t> bytes((size_t(3) << 20) + 5);
  uint32_t s = 1;
  for (auto& b : bytes) b = uint8_t((s = s * 1664525u + 1013904223u) >> 24);
  const std::string path = write("bytes.bin", bytes);
  for (FileLoading mode : {FileLoading::kRead, FileLoading::kMmap, FileLoading::kAuto}) {
    set_file_loading(mode);
    MappedFile f(path);
    ASSERT_EQ(f.size(), bytes.size());
    EXPECT_EQ(f.is_read(), mode == FileLoading::kRead);  // auto maps files under 64 MiB
    EXPECT_EQ(0, std::memcmp(f.data(), bytes.data(), bytes.size()));
    if (f.is_read()) {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(f.data()) % (size_t(2) << 20), 0u);
    }
    MappedFile moved = std::move(f);  // the bytes move with the mapping
    EXPECT_EQ(f.data(), nullptr);
    EXPECT_EQ(0, std::memcmp(moved.data(), bytes.data(), bytes.size()));
  }
}

TEST_F(MappedFileTest, EmptyAndMissingFiles) {
  const std::string empty = write("empty.bin", {});
  for (FileLoading mode : {FileLoading::kRead, FileLoading::kMmap}) {
    set_file_loading(mode);
    MappedFile f(empty);
    EXPECT_EQ(f.size(), 0u);
    try {
      MappedFile missing(empty + ".missing");
      ADD_FAILURE() << "no error for a missing file";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(".missing"), std::string::npos) << e.what();
    }
  }
}

TEST_F(MappedFileTest, ParsesModes) {
  EXPECT_EQ(parse_file_loading("auto"), FileLoading::kAuto);
  EXPECT_EQ(parse_file_loading("read"), FileLoading::kRead);
  EXPECT_EQ(parse_file_loading("mmap"), FileLoading::kMmap);
  EXPECT_THROW(parse_file_loading("huge"), Error);
}

}  // namespace
}  // namespace ds

namespace ds {
namespace {

TEST(HugeBufferTest, ZeroedAlignedCopyableMovable) {
  for (size_t bytes : {size_t(0), size_t(100), (size_t(5) << 20) + 3}) {
    HugeBuffer b(bytes);
    ASSERT_EQ(b.size(), bytes);
    for (size_t i = 0; i < bytes; i += 4093) EXPECT_EQ(b.data()[i], 0) << i;
    if (bytes >= (size_t(2) << 20)) {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % (size_t(2) << 20), 0u);
    }
    for (size_t i = 0; i < bytes; ++i) b.data()[i] = uint8_t(i * 7);
    HugeBuffer c(b);  // a deep copy
    ASSERT_EQ(c.size(), bytes);
    if (bytes) {
      EXPECT_NE(c.data(), b.data());
      EXPECT_EQ(0, std::memcmp(c.data(), b.data(), bytes));
    }
    HugeBuffer d = std::move(c);
    EXPECT_EQ(c.data(), nullptr);
    EXPECT_EQ(d.size(), bytes);
    if (bytes) {
      EXPECT_EQ(d.data()[bytes - 1], uint8_t((bytes - 1) * 7));
    }
    d = b;  // copy-assign over a buffer
    if (bytes) {
      EXPECT_EQ(0, std::memcmp(d.data(), b.data(), bytes));
    }
  }
}

}  // namespace
}  // namespace ds
