#pragma once
// FP8 dispatch (DeepSeek-V3; model.fp8.dispatch): the dispatch all-to-all
// carries each routed row quantised to E4M3 in 1x128 tiles (per row, per 128
// channels, current scaling; core/fp8/scaling.h) as 1-byte codes plus one f32
// scale per tile, and the receiver dequantises: the experts see the
// dequantised values. The combine all-to-all stays in f32. Backward is
// straight-through: the gradient of the dispatched rows is moved back as is
// (f32), by the reverse all-to-all.
//
// The quantisation belongs to the communication, not to the GEMMs: it is
// independent of model.fp8.recipe (FP8_OFF included), as DeepSeek-V3's
// dispatch quantisation is of its GEMM recipe. One rank (no all-to-all)
// applies the same quantise-dequantise, so every layout sees the same values.
#include <cstdint>
#include <memory>
#include <vector>

#include "comm/communicator.h"
#include "core/fp8/scaling.h"
#include "core/tensor.h"

namespace moe::model {

// Rows [n, D] as they travel: codes [n, D] (f8e4m3, 1 byte each) and scales
// [n, ceil(D / 128)] (f32). Tile-wise FP8 experts multiply these codes as
// they arrive (no second quantisation; quantized() is their GEMM operand).
struct Fp8Rows {
  Tensor codes, scales;
  bool defined() const { return codes.defined(); }
  fp8::QuantizedTensor quantized() const;
  Fp8Rows index_rows(const Tensor& index) const;  // rows index[i], i = 0..
};
// rows: [n, D], any float dtype (quantised from its f32 rounding).
Fp8Rows quantize_rows(const Tensor& rows);
// [n, D] in `dtype`: code / scale in f32, then cast.
Tensor dequantize_rows(const Fp8Rows& q, DType dtype);
// Bytes one row of width d puts on the wire: d codes + 4 per 128-channel tile.
int64_t fp8_row_bytes(int64_t d);

// Differentiable. One rank: dequantize_rows(quantize_rows(rows)); EP: the
// all-to-all of comm::all_to_all (same counts) carrying quantize_rows(rows),
// dequantised on arrival. Backward of both: the identity / the reverse f32
// all-to-all of the gradient. `codes` (optional) gets the codes and scales
// the result was dequantised from.
Tensor fp8_round_trip(const Tensor& rows, Fp8Rows* codes = nullptr);
Tensor fp8_all_to_all(comm::Communicator& c, const Tensor& rows, const std::vector<int64_t>& send_rows,
                      const std::vector<int64_t>& recv_rows, Fp8Rows* codes = nullptr);

struct Fp8Exchange;
// fp8_all_to_all started now (quantised, codes and scales in flight) and
// finished by finish(), bit for bit the same; its backward's reverse
// exchange is a split backward (as comm::PendingAllToAll's). rows must not
// change before finish(); finish() is called once.
class PendingFp8AllToAll {
 public:
  PendingFp8AllToAll(comm::Communicator& c, const Tensor& rows, std::vector<int64_t> send_rows,
                     std::vector<int64_t> recv_rows);
  Tensor finish(Fp8Rows* codes = nullptr);

 private:
  comm::Communicator* c_;
  Tensor rows_;
  std::vector<int64_t> send_, recv_;
  std::shared_ptr<Fp8Exchange> started_;
};

}  // namespace moe::model
