// Tensor basics: views alias storage without copies, contiguity, errors.
#include <gtest/gtest.h>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/threading.h"

namespace moe {
namespace {

Tensor iota(const Shape& s, DType t = DType::f32) {
  std::vector<double> v(size_t(shape_numel(s)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = double(i);
  return from_vector(v, s, t);
}

TEST(Tensor, StorageIs64ByteAligned) {
  for (int64_t n : {1, 3, 17, 1000}) {
    Tensor t = empty({n}, DType::f32);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % 64, 0u);
  }
}

TEST(Tensor, ViewsShareStorageAndSeeWrites) {
  Tensor x = iota({2, 3, 4});
  Tensor t = transpose(x, 0, 2);  // [4, 3, 2]
  Tensor n = narrow(x, 1, 1, 2);  // [2, 2, 4]
  Tensor s = select(x, 0, 1);     // [3, 4]
  Tensor v = view(x, {6, 4});
  Tensor e = expand(select(select(x, 0, 0), 0, 0), {5, 4});
  for (const Tensor& w : {t, n, s, v, e}) EXPECT_EQ(w.storage(), x.storage());
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_FALSE(n.is_contiguous());
  EXPECT_TRUE(s.is_contiguous());
  EXPECT_EQ(t.shape(), (Shape{4, 3, 2}));
  EXPECT_EQ(t.strides(), (Shape{1, 4, 12}));
  EXPECT_EQ(e.strides(), (Shape{0, 1}));
  // x[1][2][3] = 23 seen through each view
  EXPECT_DOUBLE_EQ(select(select(select(t, 0, 3), 0, 2), 0, 1).item(), 23.0);
  EXPECT_DOUBLE_EQ(select(select(select(n, 0, 1), 0, 1), 0, 3).item(), 23.0);
  EXPECT_DOUBLE_EQ(select(select(s, 0, 2), 0, 3).item(), 23.0);
  // A write through a view is visible in the base and bumps the shared version.
  Tensor cell = select(select(s, 0, 2), 0, 3);
  const uint64_t v0 = x.version();
  fill_(cell, -1.0);
  EXPECT_EQ(x.version(), v0 + 1);
  EXPECT_DOUBLE_EQ(x.to_vector()[23], -1.0);
  EXPECT_DOUBLE_EQ(select(select(v, 0, 5), 0, 3).item(), -1.0);
}

TEST(Tensor, ContiguousCopiesOnlyWhenNeeded) {
  Tensor x = iota({3, 4});
  EXPECT_EQ(contiguous(x).storage(), x.storage());
  Tensor t = contiguous(transpose(x, 0, 1));
  EXPECT_NE(t.storage(), x.storage());
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.to_vector(), (std::vector<double>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}));
}

TEST(Tensor, ViewOfNonContiguousNeedsCompatibleStrides) {
  Tensor x = iota({4, 6});
  Tensor t = transpose(x, 0, 1);  // [6, 4] strides [1, 6]
  EXPECT_THROW(view(t, {24}), Error);
  Tensor r = reshape(t, {24});  // copies
  EXPECT_NE(r.storage(), x.storage());
  // Splitting a dim of a non-contiguous tensor is a valid view.
  Tensor sp = view(t, {2, 3, 4});
  EXPECT_EQ(sp.storage(), x.storage());
  EXPECT_EQ(sp.to_vector(), reshape(contiguous(t), {2, 3, 4}).to_vector());
  EXPECT_EQ(view(x, {-1, 3}).shape(), (Shape{8, 3}));
}

TEST(Tensor, SliceWithStep) {
  Tensor x = iota({10});
  Tensor s = slice(x, 0, 1, 9, 3);
  EXPECT_EQ(s.to_vector(), (std::vector<double>{1, 4, 7}));
  EXPECT_EQ(s.strides(), (Shape{3}));
}

TEST(Tensor, BroadcastingAndErrorsNameShapes) {
  Tensor a = ones({2, 3}), b = ones({4});
  try {
    add(a, b);
    FAIL();
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("add"), std::string::npos) << m;
    EXPECT_NE(m.find("[2, 3]"), std::string::npos) << m;
    EXPECT_NE(m.find("[4]"), std::string::npos) << m;
  }
  try {
    add(ones({2}, DType::f32), ones({2}, DType::f64));
    FAIL();
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("f32"), std::string::npos) << m;
    EXPECT_NE(m.find("f64"), std::string::npos) << m;
  }
  EXPECT_EQ(add(ones({2, 1, 3}), ones({4, 1})).shape(), (Shape{2, 4, 3}));
  EXPECT_THROW(narrow(ones({3}), 0, 2, 2), Error);
  EXPECT_THROW(select(ones({3}), 0, 3), Error);
  EXPECT_THROW(permute(ones({2, 2}), {0, 0}), Error);
}

TEST(Tensor, DeviceParsingAndMissingBackend) {
  EXPECT_EQ(Device::parse("cuda:3"), Device::cuda(3));
  EXPECT_EQ(Device::parse("cpu"), Device::cpu());
  EXPECT_THROW(Device::parse("gpu"), Error);
  if (cuda_device_count() == 0) {
    EXPECT_THROW(empty({2}, DType::f32, Device::cuda(0)), Error);
  }
}

TEST(Tensor, LowPrecisionOpsComputeInF32AndRound) {
  Tensor a = from_vector({1.0, 2.0}, {2}, DType::bf16);
  Tensor b = from_vector({0.00390625, 3.0}, {2}, DType::bf16);  // 2^-8
  Tensor c = add(a, b);
  EXPECT_EQ(c.dtype(), DType::bf16);
  // 1 + 2^-8 is a tie between 1 and 1+2^-7 in bf16: rounds to even (1.0).
  EXPECT_EQ(c.to_vector(), (std::vector<double>{1.0, 5.0}));
}

TEST(Tensor, InPlaceOpsAndItem) {
  Tensor x = zeros({3});
  add_(x, ones({3}), 2.0);
  mul_(x, 3.0);
  EXPECT_EQ(x.to_vector(), (std::vector<double>{6, 6, 6}));
  Tensor y = zeros({2, 3});
  copy_(y, from_vector({1, 2, 3}, {3}));  // broadcast copy
  EXPECT_EQ(y.to_vector(), (std::vector<double>{1, 2, 3, 1, 2, 3}));
  EXPECT_THROW(x.item(), Error);
  EXPECT_DOUBLE_EQ(sum(x).item(), 18.0);
}

TEST(Tensor, ArangeAndFactories) {
  EXPECT_EQ(arange(0, 5, 2).to_vector(), (std::vector<double>{0, 2, 4}));
  EXPECT_EQ(arange(5, 0, -2).to_vector(), (std::vector<double>{5, 3, 1}));
  EXPECT_EQ(arange(0, 3).dtype(), DType::i64);
  EXPECT_EQ(full({2}, 7.0, DType::i32).to_vector(), (std::vector<double>{7, 7}));
  Tensor big = arange(int64_t(1) << 60, (int64_t(1) << 60) + 2);
  EXPECT_EQ(big.data<int64_t>()[1], (int64_t(1) << 60) + 1);  // no precision loss through copies
  EXPECT_EQ(clone(big).data<int64_t>()[1], (int64_t(1) << 60) + 1);
}

}  // namespace
}  // namespace moe
