#include "model/fp8_dispatch.h"

#include <cstring>
#include <memory>

#include "core/autograd.h"
#include "core/error.h"
#include "core/fp8/scaling.h"
#include "core/ops.h"

namespace moe::model {

namespace {

constexpr fp8::Format kFormat = fp8::Format::e4m3;
constexpr fp8::Layout kLayout = fp8::Layout::tile_1x128;

class Fp8RoundTrip final : public Function {
 public:
  std::string name() const override { return "fp8_round_trip"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& in) override {
    return {dequantize_rows(quantize_rows(in[0]), in[0].dtype())};
  }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override { return {g[0]}; }
};

class Fp8AllToAll final : public Function {
 public:
  Fp8AllToAll(comm::Communicator& c, std::vector<int64_t> send, std::vector<int64_t> recv)
      : c_(c), send_(std::move(send)), recv_(std::move(recv)) {}
  std::string name() const override { return "fp8_all_to_all"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& in) override {
    const Fp8Rows q = quantize_rows(in[0]);
    // Codes and scales travel by the same row counts, both in flight at once.
    std::unique_ptr<comm::Work> codes = c_.all_to_all_single_async(q.codes, send_, recv_);
    std::unique_ptr<comm::Work> scales = c_.all_to_all_single_async(q.scales, send_, recv_);
    codes->wait();
    scales->wait();
    return {dequantize_rows({codes->result(), scales->result()}, in[0].dtype())};
  }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override {
    return {c_.all_to_all_single(g[0], recv_, send_)};
  }

 private:
  comm::Communicator& c_;
  std::vector<int64_t> send_, recv_;
};

}  // namespace

int64_t fp8_row_bytes(int64_t d) { return d + int64_t(sizeof(float)) * fp8::scale_cols(kLayout, d); }

Fp8Rows quantize_rows(const Tensor& rows) {
  MOE_CHECK(rows.dim() == 2 && is_floating(rows.dtype()), "fp8 dispatch: rows must be a 2-D float tensor, got ",
            rows.str());
  const Tensor x = contiguous(cast(rows.detach(), DType::f32));
  const int64_t n = x.size(0), d = x.size(1), tiles = fp8::scale_cols(kLayout, d);
  const fp8::Quantized q = fp8::quantize(x, kFormat, kLayout, fp8::ScaleRounding::none, "dispatched rows");
  Fp8Rows out{empty({n, d}, DType::f8e4m3), empty({n, tiles})};
  // q.scales holds at least one entry even for no rows: copy n * tiles.
  std::memcpy(out.codes.raw_data(), q.codes.data(), size_t(n * d));
  std::memcpy(out.scales.raw_data(), q.scales.data(), size_t(n * tiles) * sizeof(float));
  return out;
}

Tensor dequantize_rows(const Fp8Rows& r, DType dtype) {
  fp8::Quantized q;
  q.format = kFormat;
  q.layout = kLayout;
  q.rows = r.codes.size(0);
  q.cols = r.codes.size(1);
  MOE_CHECK(r.codes.dtype() == DType::f8e4m3 && r.scales.dtype() == DType::f32 &&
                r.scales.shape() == Shape({q.rows, fp8::scale_cols(kLayout, q.cols)}),
            "fp8 dispatch: codes ", r.codes.str(), " and scales ", r.scales.str(), " do not match");
  const Tensor codes = contiguous(r.codes), scales = contiguous(r.scales);
  const auto* c = static_cast<const uint8_t*>(codes.raw_data());
  q.codes.assign(c, c + q.rows * q.cols);
  q.scales.assign(scales.data<float>(), scales.data<float>() + scales.numel());
  const std::vector<float> v = fp8::dequantize(q);
  Tensor out = empty({q.rows, q.cols});
  std::memcpy(out.raw_data(), v.data(), v.size() * sizeof(float));
  return dtype == DType::f32 ? out : cast(out, dtype);
}

Tensor fp8_round_trip(const Tensor& rows) {
  return Function::apply(std::make_shared<Fp8RoundTrip>(), {rows})[0];
}

Tensor fp8_all_to_all(comm::Communicator& c, const Tensor& rows, const std::vector<int64_t>& send_rows,
                      const std::vector<int64_t>& recv_rows) {
  return Function::apply(std::make_shared<Fp8AllToAll>(c, send_rows, recv_rows), {rows})[0];
}

}  // namespace moe::model
