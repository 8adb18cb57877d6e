// GPU f32 <-> narrow float conversions (core/cuda/cast.cu) equal the CPU ones
// bit for bit: both run the fp:: functions of core/dtype_convert.h. Skipped
// when no CUDA device is present.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/cuda/cast.h"
#include "core/cuda/runtime.h"
#include "core/dtype_convert.h"

namespace moe {
namespace {

// Device buffer holding a copy of a host vector.
template <typename T>
struct DeviceBuffer {
  T* ptr = nullptr;
  size_t n = 0;
  explicit DeviceBuffer(size_t count) : n(count) { MOE_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&ptr), n * sizeof(T))); }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) {
    MOE_CUDA_CHECK(cudaMemcpy(ptr, host.data(), n * sizeof(T), cudaMemcpyHostToDevice));
  }
  ~DeviceBuffer() { cudaFree(ptr); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  std::vector<T> to_host() const {
    std::vector<T> h(n);
    MOE_CUDA_CHECK(cudaMemcpy(h.data(), ptr, n * sizeof(T), cudaMemcpyDeviceToHost));
    return h;
  }
};

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

template <typename Code>
struct Case {
  DType dtype;
  uint32_t ncodes;
  Code (*enc)(float, bool);
  float (*dec)(Code);
};

// Every code decodes identically; every decoded value plus random f32 bit
// patterns (all exponents, NaN, inf, subnormals) encode identically.
template <typename Code>
void check_format(const Case<Code>& c) {
  SCOPED_TRACE(std::string("dtype ") + dtype_name(c.dtype));
  std::vector<Code> codes(c.ncodes);
  for (uint32_t i = 0; i < c.ncodes; ++i) codes[i] = Code(i);
  DeviceBuffer<Code> d_codes(codes);
  DeviceBuffer<float> d_decoded(codes.size());
  cuda::cast_to_f32(d_codes.ptr, d_decoded.ptr, int64_t(codes.size()), c.dtype);
  const std::vector<float> decoded = d_decoded.to_host();
  for (uint32_t i = 0; i < c.ncodes; ++i) {
    const float want = c.dec(Code(i));
    if (std::isnan(want)) ASSERT_TRUE(std::isnan(decoded[i])) << "code " << i;
    else ASSERT_EQ(bits(decoded[i]), bits(want)) << "code " << i;
  }

  std::vector<float> in(decoded);
  std::mt19937 rng(42);
  for (int i = 0; i < (1 << 20); ++i) {
    const uint32_t u = rng();
    float f;
    std::memcpy(&f, &u, 4);
    in.push_back(f);
  }
  DeviceBuffer<float> d_in(in);
  DeviceBuffer<Code> d_out(in.size());
  for (bool sat : {false, true}) {
    cuda::cast_from_f32(d_in.ptr, d_out.ptr, int64_t(in.size()), c.dtype, sat);
    const std::vector<Code> out = d_out.to_host();
    for (size_t i = 0; i < in.size(); ++i)
      ASSERT_EQ(out[i], c.enc(in[i], sat)) << "input bits 0x" << std::hex << bits(in[i]) << " sat " << sat;
  }
}

class CudaCast : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  }
};

TEST_F(CudaCast, BF16) {
  check_format<uint16_t>({DType::bf16, 65536, [](float f, bool) { return fp::f32_to_bf16(f); }, fp::bf16_to_f32});
}
TEST_F(CudaCast, F16) {
  check_format<uint16_t>({DType::f16, 65536, [](float f, bool) { return fp::f32_to_f16(f); }, fp::f16_to_f32});
}
TEST_F(CudaCast, E4M3) { check_format<uint8_t>({DType::f8e4m3, 256, fp::f32_to_e4m3, fp::e4m3_to_f32}); }
TEST_F(CudaCast, E5M2) { check_format<uint8_t>({DType::f8e5m2, 256, fp::f32_to_e5m2, fp::e5m2_to_f32}); }

// Runs without a device too: the count is 0 or more, and a failing call throws
// moe::Error carrying the CUDA error text.
TEST(CudaRuntime, DeviceCountAndCheck) {
  EXPECT_GE(cuda_device_count(), 0);
  try {
    MOE_CUDA_CHECK(cudaErrorInvalidValue);
    FAIL() << "MOE_CUDA_CHECK did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cudaErrorInvalidValue"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace moe
