#include "model/fp8_dispatch.h"

#include <memory>

#include "core/autograd.h"
#include "core/backend/fp8.h"
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
  const int64_t n = x.size(0), tiles = fp8::scale_cols(kLayout, x.size(1));
  // On the rows' device (a CUDA quantise does not stop at an inf/NaN: the
  // step's non-finite check does).
  const fp8::QuantizedTensor q =
      backend::fp8_quantize(x, kFormat, kLayout, fp8::ScaleRounding::none, false, "dispatched rows");
  // q.scales holds at least one entry even for no rows: n * tiles of them.
  return {q.codes, reshape(narrow(q.scales, 0, 0, n * tiles), {n, tiles})};
}

Tensor dequantize_rows(const Fp8Rows& r, DType dtype) {
  const int64_t n = r.codes.size(0), d = r.codes.size(1);
  MOE_CHECK(r.codes.dtype() == DType::f8e4m3 && r.scales.dtype() == DType::f32 &&
                r.scales.shape() == Shape({n, fp8::scale_cols(kLayout, d)}),
            "fp8 dispatch: codes ", r.codes.str(), " and scales ", r.scales.str(), " do not match");
  // x' = fp8(q) / the scale of its tile (fp8::dequantize's one f32 division).
  std::vector<double> tile(static_cast<size_t>(d));
  for (int64_t c = 0; c < d; ++c) tile[size_t(c)] = double(c / fp8::kTile);
  const Tensor per_element = index_select(r.scales, 1, from_vector(tile, {d}, DType::i64, r.scales.device()));
  const Tensor out = div(cast(r.codes, DType::f32), per_element);
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
