// share_if_identical: the MTP module's copies of the head / embedding collapse onto the main
// model's only when they are byte-identical matrices of the same type and shape.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "model/weights.h"

namespace ds {
namespace {

WeightView view(const std::vector<uint16_t>& v, int64_t rows, int64_t cols) {
  WeightView w;
  w.dtype = DType::BF16;
  w.data = v.data();
  w.rows = rows;
  w.cols = cols;
  return w;
}

TEST(ShareIfIdentical, IdenticalBytesShareOneCopy) {
  std::vector<uint16_t> a(64), b(64);
  for (size_t i = 0; i < a.size(); ++i) a[i] = b[i] = uint16_t(0x3f80 + i);
  WeightView orig = view(a, 8, 8), copy = view(b, 8, 8);
  share_if_identical(copy, orig);
  EXPECT_EQ(copy.data, orig.data);
}

TEST(ShareIfIdentical, DifferentBytesShapesOrTypesStayApart) {
  std::vector<uint16_t> a(64, 0x3f80), b(64, 0x3f80);
  b[63] = 0x4000;
  WeightView orig = view(a, 8, 8), copy = view(b, 8, 8);
  share_if_identical(copy, orig);
  EXPECT_EQ(copy.data, b.data());

  std::vector<uint16_t> c(64, 0x3f80);
  WeightView reshaped = view(c, 4, 16);
  share_if_identical(reshaped, orig);
  EXPECT_EQ(reshaped.data, c.data());

  WeightView typed = view(c, 8, 8);
  typed.dtype = DType::F16;
  share_if_identical(typed, orig);
  EXPECT_EQ(typed.data, c.data());
}

}  // namespace
}  // namespace ds
