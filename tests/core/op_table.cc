#include "tests/core/op_table.h"

#include <cmath>

#include "core/autograd.h"

namespace moe::test {

std::vector<OpCase>& op_table() {
  static std::vector<OpCase> table;
  return table;
}

RegisterOps::RegisterOps(std::vector<OpCase> cases) {
  for (auto& c : cases) op_table().push_back(std::move(c));
}

OpInput randn_in(Shape s) {
  return {[s](DType t, uint64_t seed) { return randn(s, seed, 0, t); }, true};
}

OpInput uniform_in(Shape s, double lo, double hi) {
  return {[=](DType t, uint64_t seed) {
            NoGradGuard g;
            return add(mul(rand(s, seed, 1, t), hi - lo), lo);
          },
          true};
}

OpInput noncontig_in(Shape s) {
  return {[s](DType t, uint64_t seed) {
            if (s.size() >= 2) {
              Shape base = s;
              std::swap(base[base.size() - 1], base[base.size() - 2]);
              return transpose(randn(base, seed, 2, t), -1, -2);
            }
            Shape base = s;
            if (!base.empty()) base[0] *= 2;
            Tensor b = randn(base, seed, 2, t);
            return s.empty() ? b : slice(b, 0, 0, base[0], 2);
          },
          true};
}

OpInput index_in(Shape s, int64_t hi) {
  return {[=](DType, uint64_t seed) {
            NoGradGuard g;
            Tensor u = rand(s, seed, 3, DType::f64);
            std::vector<double> v = u.to_vector();
            for (double& x : v) x = std::min<double>(double(hi - 1), std::floor(x * double(hi)));
            return from_vector(v, s, DType::i64);
          },
          false};
}

OpInput const_in(std::function<Tensor()> make) {
  return {[make](DType, uint64_t) { return make(); }, false};
}

}  // namespace moe::test
