// The backend seam (core/backend/): ops check that their inputs share a
// device and name both when they do not; every op reaches the CUDA side of
// its kernel family for CUDA tensors; a build without CUDA refuses CUDA
// allocations and its stubs name the family function.
//
// There is no GPU here, so CUDA tensors are faked: host memory from an
// allocator whose device() says cuda:N. An op that skipped the seam and ran
// a CPU kernel on such a tensor would succeed, so the tests below that
// expect the CUDA stub's error would fail.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "core/backend/attention.h"
#include "core/backend/copy.h"
#include "core/backend/elementwise.h"
#include "core/backend/fp8.h"
#include "core/backend/gemm.h"
#include "core/backend/indexing.h"
#include "core/backend/nn.h"
#include "core/backend/reduce.h"
#include "core/backend/softmax.h"
#include "core/error.h"
#include "core/fp8/recipe.h"
#include "core/ops.h"

namespace moe {
namespace {

// Host memory that claims to be on cuda:index.
class FakeCudaAllocator final : public Allocator {
 public:
  explicit FakeCudaAllocator(int index) : index_(index) {}
  void* allocate(size_t nbytes) override { return nbytes ? std::aligned_alloc(64, (nbytes + 63) / 64 * 64) : nullptr; }
  void deallocate(void* p, size_t) override { std::free(p); }
  Device device() const override { return Device::cuda(index_); }

 private:
  int index_;
};

FakeCudaAllocator* fake_allocator(int index) {
  static FakeCudaAllocator* a[2] = {new FakeCudaAllocator(0), new FakeCudaAllocator(1)};
  return a[index];
}

// A copy of `host` on the fake cuda:index (contiguous).
Tensor fake_cuda(const Tensor& host, int index = 0) {
  const Tensor c = contiguous(host);
  const size_t nbytes = size_t(c.numel()) * dtype_size(c.dtype());
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(nbytes, fake_allocator(index));
  if (nbytes) std::memcpy(impl->storage->data(), c.raw_data(), nbytes);
  impl->shape = c.shape();
  impl->strides = contiguous_strides(c.shape());
  impl->dtype = c.dtype();
  return Tensor(impl);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

struct Case {
  std::string name;  // what the message must name (op, or family function)
  std::function<void()> run;
};

TEST(BackendSeam, OpsNameBothDevicesOfMixedInputs) {
  const Tensor x = rand({2, 3}, 1), y = fake_cuda(rand({2, 3}, 2));
  const Tensor w = rand({3, 2}, 3), wf = fake_cuda(w);
  const Tensor cond = gt(x, scalar_tensor(0.5)), condf = fake_cuda(cond);
  const Tensor q = rand({1, 2, 2, 4}, 4), qf = fake_cuda(q);
  const Tensor idx = zeros({2, 3}, DType::i64), idxf = fake_cuda(idx);
  const Tensor idx1 = zeros({2}, DType::i64), idx1f = fake_cuda(idx1);
  const fp8::GemmRecipe recipe;
  const std::vector<Case> cases = {
      {"add", [&] { add(x, y); }},
      {"sub", [&] { sub(x, y); }},
      {"mul", [&] { mul(y, x); }},
      {"div", [&] { div(x, y); }},
      {"eq", [&] { eq(x, y); }},
      {"lt", [&] { lt(x, y); }},
      {"gt", [&] { gt(x, y); }},
      {"where", [&] { where(cond, y, y); }},
      {"where", [&] { where(condf, x, x); }},
      {"where", [&] { where(cond, x, y); }},
      {"masked_fill", [&] { masked_fill(x, condf, 0.0); }},
      {"swiglu", [&] { swiglu(x, y); }},
      {"matmul", [&] { matmul(x, wf); }},
      {"bmm", [&] { bmm(x.unsqueeze(0), wf.unsqueeze(0)); }},
      {"grouped_matmul", [&] { grouped_matmul(x, wf.unsqueeze(0), {2}); }},
      {"fp8_matmul", [&] { fp8_matmul(x, wf, recipe); }},
      {"fp8_grouped_matmul", [&] { fp8_grouped_matmul(x, wf.unsqueeze(0), {2}, recipe); }},
      {"rms_norm", [&] { rms_norm(x, fake_cuda(ones({3}))); }},
      {"scaled_dot_product_attention", [&] { scaled_dot_product_attention(q, qf, q); }},
      {"scaled_dot_product_attention", [&] { scaled_dot_product_attention(q, q, qf); }},
      {"attention_max_logits", [&] { attention_max_logits(q, qf); }},
      {"embedding", [&] { embedding(rand({5, 3}, 5), idx1f); }},
      {"cross_entropy", [&] { cross_entropy(x, idx1f); }},
      {"gather", [&] { gather(x, 1, idxf); }},
      {"scatter_add", [&] { scatter_add(x, 1, idxf, x); }},
      {"scatter_add", [&] { scatter_add(x, 1, idx, y); }},
      {"index_select", [&] { index_select(x, 0, idx1f); }},
      {"index_add", [&] { index_add(x, 0, idx1f, x); }},
      {"index_add", [&] { index_add(x, 0, idx1, y); }},
      {"cat", [&] { cat({x, y}, 0); }},
      {"stack", [&] { stack({x, y}, 0); }},
      {"copy_", [&] {
         Tensor d = zeros({2, 3});
         copy_(d, y);
       }},
      {"add_", [&] {
         Tensor d = zeros({2, 3});
         add_(d, y, 2.0);
       }},
  };
  for (const Case& c : cases) {
    const std::string m = error_of(c.run);
    EXPECT_TRUE(contains(m, c.name + ":") && contains(m, " cpu") && contains(m, " cuda:0")) << c.name << ": " << m;
  }
  // Two GPUs are two devices as well.
  const std::string m = error_of([&] { add(y, fake_cuda(rand({2, 3}, 6), 1)); });
  EXPECT_TRUE(contains(m, "add:") && contains(m, "cuda:0") && contains(m, "cuda:1")) << m;
}

TEST(BackendSeam, FamilyFunctionsRefuseTensorsOnTwoDevices) {
  // What the ops' checks stand in front of: a family function never runs a
  // kernel over tensors of two devices (e.g. an output made on the CPU).
  const Tensor x = rand({4}, 1);
  const std::string m = error_of([&] { backend::unary(math::Unary::exp, x, 0.0, fake_cuda(x)); });
  EXPECT_TRUE(contains(m, "backend unary") && contains(m, " cpu") && contains(m, " cuda:0")) << m;
  std::vector<backend::MatmulJob> jobs = {{rand({2, 2}, 1), rand({2, 2}, 2), zeros({2, 2})},
                                          {rand({2, 2}, 3), fake_cuda(rand({2, 2}, 4)), zeros({2, 2})}};
  const std::string mj = error_of([&] { backend::matmul_each(jobs, MatmulPrecision::fp32); });
  EXPECT_TRUE(contains(mj, "backend matmul_each") && contains(mj, "cuda:0")) << mj;
}

TEST(BackendSeam, HostTensorsStayWhereTheyAre) {
  Tensor x = rand({3}, 1);
  x.set_requires_grad();
  EXPECT_TRUE(x.to(Device::cpu()).same(x));
  const Tensor h = host_copy(x);
  EXPECT_EQ(h.storage(), x.storage());  // no copy on the host
  EXPECT_FALSE(h.requires_grad());      // for reading only
}

#ifndef MOE_WITH_CUDA
// Below: a build without CUDA (MOE_CUDA=OFF). In a CUDA build the fake
// tensors would reach real kernels with host pointers.

TEST(BackendSeam, NoCudaBuildRefusesCudaAllocations) {
  const std::string want = "this build has no CUDA backend (built with MOE_CUDA=OFF)";
  for (const std::function<void()>& f : std::vector<std::function<void()>>{
           [] { empty({2}, DType::f32, Device::cuda(0)); },
           [] { zeros({2, 2}, DType::bf16, Device::cuda(1)); },
           [] { rand({2}, 1).to(Device::cuda()); },
       }) {
    const std::string m = error_of(f);
    EXPECT_TRUE(contains(m, want) && contains(m, "cuda:")) << m;
  }
}

// Installs the fake cuda:0 as the CUDA allocator for one test.
class FakeCudaDevice {
 public:
  FakeCudaDevice() { set_cuda_allocator_for_tests(fake_allocator(0)); }
  ~FakeCudaDevice() { set_cuda_allocator_for_tests(nullptr); }
};

std::string stub_message(const std::string& fn) { return "op " + fn + " has no CUDA implementation in this build"; }

TEST(BackendSeam, EveryOpReachesItsCudaFamily) {
  const FakeCudaDevice device;
  const Tensor x = fake_cuda(rand({2, 3}, 1)), y = fake_cuda(rand({2, 3}, 2));
  const Tensor w = fake_cuda(rand({3, 2}, 3));
  const Tensor cond = fake_cuda(gt(rand({2, 3}, 1), scalar_tensor(0.5)));
  const Tensor q = fake_cuda(rand({1, 2, 2, 4}, 4));
  const Tensor idx = fake_cuda(zeros({2, 3}, DType::i64)), idx1 = fake_cuda(zeros({2}, DType::i64));
  fp8::GemmRecipe no_fprop;
  no_fprop.fprop = false;
  // Each op with the family function it calls first.
  const std::vector<Case> cases = {
      {"copy_strided", [&] { clone(x); }},
      {"copy_strided", [&] { cast(x, DType::f64); }},
      {"copy_strided", [&] { cat({x, y}, 1); }},
      {"copy_strided", [&] { stack({x, y}, 0); }},
      {"copy_strided", [&] {
         Tensor d = x.detach();
         copy_(d, y);
       }},
      {"fill", [&] { zeros({2}, DType::f32, Device::cuda(0)); }},
      {"fill", [&] {
         Tensor d = x.detach();
         fill_(d, 1.0);
       }},
      {"fill", [&] { masked_fill(x, cond, 0.0); }},
      {"copy_between_devices", [&] { x.to(Device::cpu()); }},
      {"copy_between_devices", [&] { rand({2}, 1).to(Device::cuda(0)); }},
      {"copy_between_devices", [&] { host_copy(x); }},
      {"copy_between_devices", [&] { x.select(0, 1).select(0, 2).item(); }},
      {"copy_between_devices", [&] { x.to_vector(); }},
      {"unary", [&] { exp(x); }},
      {"unary", [&] { mul(x, 2.0); }},
      {"unary", [&] {
         Tensor d = x.detach();
         mul_(d, 2.0);
       }},
      {"binary", [&] { add(x, y); }},
      {"binary", [&] { lt(x, y); }},
      {"binary", [&] {
         Tensor d = x.detach();
         add_(d, y);
       }},
      {"swiglu", [&] { swiglu(x, y); }},
      {"where", [&] { where(cond, x, y); }},
      {"reduce_rows", [&] { sum(x); }},
      {"reduce_rows", [&] { mean(x, {1}); }},
      {"reduce_rows", [&] { amax(x, {1}); }},
      {"max_dim", [&] { max(x, 1); }},
      {"cumsum_dim", [&] { cumsum(x, 1); }},
      {"softmax_rows", [&] { softmax(x); }},
      {"softmax_rows", [&] { log_softmax(x); }},
      {"first_bad_target", [&] { cross_entropy(x, idx1); }},
      {"matmul", [&] { matmul(x, w); }},
      {"matmul", [&] { bmm(x.unsqueeze(0), w.unsqueeze(0)); }},
      {"matmul_each", [&] { grouped_matmul(x, w.unsqueeze(0), {2}); }},
      {"matmul_each", [&] { fp8_grouped_matmul(x, w.unsqueeze(0), {2}, no_fprop); }},
      {"fp8_fprop", [&] { fp8_matmul(x, w, fp8::GemmRecipe{}); }},
      {"rms_norm_fwd", [&] { rms_norm(x, fake_cuda(ones({3}))); }},
      {"rope", [&] { rope(q); }},
      {"attention_fwd", [&] { scaled_dot_product_attention(q, q, q); }},
      {"attention_max_logits", [&] { attention_max_logits(q, q); }},
      {"embedding_first_bad", [&] { embedding(w, idx1); }},
      {"dropout", [&] { dropout(x, 0.5, 7); }},
      {"sorted_indices", [&] { topk(x, 2); }},
      {"sorted_indices", [&] { sort(x, 1); }},
      {"first_out_of_range", [&] { gather(x, 1, idx); }},
      {"first_out_of_range", [&] { scatter_add(x, 1, idx, y); }},
      {"first_out_of_range", [&] { index_select(x, 0, idx1); }},
      {"first_out_of_range", [&] { index_add(x, 0, idx1, y); }},
      {"first_out_of_range", [&] { one_hot(idx1, 4); }},
      {"first_out_of_range", [&] { bincount(idx1); }},
  };
  for (const Case& c : cases) {
    const std::string m = error_of(c.run);
    EXPECT_TRUE(contains(m, stub_message(c.name))) << "expected " << stub_message(c.name) << ", got: " << m;
  }
}

TEST(BackendSeam, EveryFamilyFunctionHasACudaStub) {
  const FakeCudaDevice device;
  const Tensor t = fake_cuda(rand({2, 3}, 1)), i64 = fake_cuda(zeros({2}, DType::i64));
  const Tensor pos = fake_cuda(zeros({}, DType::i64)), sums = fake_cuda(zeros({2}, DType::f64));
  const Tensor u;  // an optional output left out
  const fp8::GemmRecipe r;
  const fp8::ScaleSource s;
  const std::vector<Case> cases = {
      {"copy_strided", [&] { backend::copy_strided(t, t, false); }},
      {"fill", [&] { backend::fill(t, 0.0); }},
      {"fill_uniform", [&] { backend::fill_uniform(t, 1, 0); }},
      {"fill_normal", [&] { backend::fill_normal(t, 1, 0); }},
      {"copy_between_devices", [&] { backend::copy_between_devices(t, rand({2, 3}, 1)); }},
      {"unary", [&] { backend::unary(math::Unary::exp, t, 0.0, t); }},
      {"binary", [&] { backend::binary(math::Binary::add, t, t, t); }},
      {"swiglu", [&] { backend::swiglu(t, t, t); }},
      {"swiglu_backward", [&] { backend::swiglu_backward(t, t, t, t, t); }},
      {"where", [&] { backend::where(t, t, t, t); }},
      {"reduce_rows", [&] { backend::reduce_rows(backend::RowReduce::sum, t, 2, 3, t); }},
      {"max_dim", [&] { backend::max_dim(t, t, i64, 1, 2, 3); }},
      {"max_dim_backward", [&] { backend::max_dim_backward(t, i64, t, 1, 2, 3); }},
      {"cumsum_dim", [&] { backend::cumsum_dim(t, t, 1, 2, 3, false); }},
      {"softmax_rows", [&] { backend::softmax_rows(t, t, 2, 3, false); }},
      {"softmax_rows_backward", [&] { backend::softmax_rows_backward(t, t, t, 2, 3, true); }},
      {"first_bad_target", [&] { backend::first_bad_target(i64, 3, -100, pos); }},
      {"cross_entropy_rows", [&] { backend::cross_entropy_rows(t, i64, -100, t, t, sums, 2, 3); }},
      {"cross_entropy_rows_backward", [&] { backend::cross_entropy_rows_backward(t, i64, t, t, 1.0, -100, t, 2, 3); }},
      {"rms_norm_fwd", [&] { backend::rms_norm_fwd(t, t, 1e-6, t, t); }},
      {"rms_norm_bwd", [&] { backend::rms_norm_bwd(t, t, t, t, t, u); }},
      {"rope", [&] { backend::rope(t, 1e4, false, 0, 2, false, t); }},
      {"embedding_first_bad", [&] { backend::embedding_first_bad(i64, 5, pos); }},
      {"embedding_fwd", [&] { backend::embedding_fwd(t, i64, t); }},
      {"embedding_bwd", [&] { backend::embedding_bwd(t, i64, t); }},
      {"dropout", [&] { backend::dropout(t, 0.5, 1, 0, t); }},
      {"attention_fwd", [&] { backend::attention_fwd(t, t, t, 1.0, 0, t, t); }},
      {"attention_bwd", [&] { backend::attention_bwd(t, t, t, t, t, t, 1.0, 0, t, t, t); }},
      {"attention_max_logits", [&] { backend::attention_max_logits(t, t, 1.0, 0, t); }},
      {"first_out_of_range", [&] { backend::first_out_of_range(i64, 0, 3, pos); }},
      {"sorted_indices", [&] { backend::sorted_indices(t, 2, 3, 3, false, i64); }},
      {"gather", [&] { backend::gather(t, 0, i64, t); }},
      {"scatter_add", [&] { backend::scatter_add(t, 0, i64, t); }},
      {"index_select", [&] { backend::index_select(t, i64, 1, 2, 3, t); }},
      {"index_add", [&] { backend::index_add(t, i64, 1, 2, 3, t); }},
      {"one_hot", [&] { backend::one_hot(i64, t); }},
      {"bincount", [&] { backend::bincount(i64, t); }},
      {"matmul", [&] { backend::matmul(t, t, t, MatmulPrecision::fp32); }},
      {"matmul_each", [&] { backend::matmul_each({{t, t, t}}, MatmulPrecision::bf16); }},
      {"fp8_fprop", [&] { backend::fp8_fprop(t, t, r, s); }},
      {"fp8_dgrad", [&] { backend::fp8_dgrad(t, t, r, s); }},
      {"fp8_wgrad", [&] { backend::fp8_wgrad(t, t, r, s); }},
  };
  for (const Case& c : cases) {
    const std::string m = error_of(c.run);
    EXPECT_TRUE(contains(m, stub_message(c.name))) << "expected " << stub_message(c.name) << ", got: " << m;
  }
}

TEST(BackendSeam, TestAllocatorServesItsOwnDeviceOnly) {
  const FakeCudaDevice device;
  const std::string m = error_of([] { empty({2}, DType::f32, Device::cuda(1)); });
  EXPECT_TRUE(contains(m, "cannot allocate on cuda:1") && contains(m, "cuda:0 only")) << m;
}
#endif  // MOE_WITH_CUDA

}  // namespace
}  // namespace moe
