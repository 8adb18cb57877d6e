#include "model/fp8_dispatch.h"

#include <memory>

#include "comm/collectives.h"
#include "core/autograd.h"
#include "core/backend/fp8.h"
#include "core/error.h"
#include "core/fp8/scaling.h"
#include "core/ops.h"

namespace moe::model {

// Codes and scales of quantised rows in flight (the same row counts, both
// at once).
struct Fp8Exchange {
  std::shared_ptr<comm::Work> codes, scales;
  Fp8Exchange(comm::Communicator& c, const Tensor& rows, const std::vector<int64_t>& send,
              const std::vector<int64_t>& recv) {
    const Fp8Rows q = quantize_rows(rows);
    codes = c.all_to_all_single_async(q.codes, send, recv);
    scales = c.all_to_all_single_async(q.scales, send, recv);
  }
  Fp8Rows wait() const {
    codes->wait();
    scales->wait();
    return {codes->result(), scales->result()};
  }
};

namespace {

constexpr fp8::Format kFormat = fp8::Format::e4m3;
constexpr fp8::Layout kLayout = fp8::Layout::tile_1x128;

class Fp8RoundTrip final : public Function {
 public:
  std::string name() const override { return "fp8_round_trip"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& in) override {
    codes = quantize_rows(in[0]);
    return {dequantize_rows(codes, in[0].dtype())};
  }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override { return {g[0]}; }
  Fp8Rows codes;  // what forward dequantised
};

// Forward: the exchange (started here, or already by a PendingFp8AllToAll),
// dequantised; backward: the reverse f32 all-to-all (split when overlapped).
class Fp8AllToAll final : public Function {
 public:
  Fp8AllToAll(comm::Communicator& c, std::vector<int64_t> send, std::vector<int64_t> recv,
              std::shared_ptr<Fp8Exchange> started = nullptr)
      : c_(c), send_(std::move(send)), recv_(std::move(recv)), started_(std::move(started)) {}
  std::string name() const override { return "fp8_all_to_all"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& in) override {
    const bool overlapped = started_ != nullptr;
    if (!overlapped) started_ = std::make_shared<Fp8Exchange>(c_, in[0], send_, recv_);
    arrived = started_->wait();
    started_.reset();
    split_backward_ = overlapped;
    return {dequantize_rows(arrived, in[0].dtype())};
  }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override {
    return {c_.all_to_all_single(g[0], recv_, send_)};
  }
  FinishFn start_backward(const std::vector<Tensor>& g) override {
    return split_backward_ ? comm::start_reverse_all_to_all(c_, g[0], send_, recv_) : nullptr;
  }
  Fp8Rows arrived;  // what forward dequantised

 private:
  comm::Communicator& c_;
  std::vector<int64_t> send_, recv_;
  std::shared_ptr<Fp8Exchange> started_;
  bool split_backward_ = false;
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

fp8::QuantizedTensor Fp8Rows::quantized() const {
  fp8::QuantizedTensor q;
  q.format = kFormat;
  q.layout = kLayout;
  q.rows = codes.size(0);
  q.cols = codes.size(1);
  q.codes = codes;
  q.scales = reshape(contiguous(scales), {-1});
  return q;
}

Fp8Rows Fp8Rows::index_rows(const Tensor& index) const {
  return {index_select(codes, 0, index), index_select(scales, 0, index)};
}

Tensor fp8_round_trip(const Tensor& rows, Fp8Rows* codes) {
  auto fn = std::make_shared<Fp8RoundTrip>();
  Tensor out = Function::apply(fn, {rows})[0];
  if (codes) *codes = std::move(fn->codes);
  return out;
}

PendingFp8AllToAll::PendingFp8AllToAll(comm::Communicator& c, const Tensor& rows, std::vector<int64_t> send_rows,
                                       std::vector<int64_t> recv_rows)
    : c_(&c), rows_(rows), send_(std::move(send_rows)), recv_(std::move(recv_rows)),
      started_(std::make_shared<Fp8Exchange>(c, rows, send_, recv_)) {}

Tensor PendingFp8AllToAll::finish(Fp8Rows* codes) {
  MOE_CHECK(started_ != nullptr, "PendingFp8AllToAll::finish called twice");
  auto fn = std::make_shared<Fp8AllToAll>(*c_, send_, recv_, std::move(started_));
  started_.reset();
  Tensor out = Function::apply(fn, {rows_})[0];
  if (codes) *codes = std::move(fn->arrived);
  return out;
}

Tensor fp8_all_to_all(comm::Communicator& c, const Tensor& rows, const std::vector<int64_t>& send_rows,
                      const std::vector<int64_t>& recv_rows, Fp8Rows* codes) {
  auto fn = std::make_shared<Fp8AllToAll>(c, send_rows, recv_rows);
  Tensor out = Function::apply(fn, {rows})[0];
  if (codes) *codes = std::move(fn->arrived);
  return out;
}

}  // namespace moe::model
