#include "data/pretokenize.h"

namespace moe::data {
namespace {

enum class Cls { letter, digit, space, other };

Cls classify(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80) return Cls::letter;
  if (c >= '0' && c <= '9') return Cls::digit;
  if (c == ' ' || (c >= '\t' && c <= '\r')) return Cls::space;
  return Cls::other;
}

}  // namespace

std::vector<std::string_view> pretokenize(std::string_view text) {
  std::vector<std::string_view> chunks;
  const size_t n = text.size();
  auto cls = [&](size_t i) { return classify(static_cast<unsigned char>(text[i])); };
  size_t i = 0;
  while (i < n) {
    const size_t start = i;
    if (text[i] == ' ' && i + 1 < n && cls(i + 1) != Cls::space) ++i;  // leading space
    const Cls c = cls(i);
    size_t j = i + 1;
    while (j < n && cls(j) == c) ++j;
    // A whitespace run followed by a word leaves its final ' ' to that word.
    if (c == Cls::space && j < n && j - start > 1 && text[j - 1] == ' ') --j;
    chunks.push_back(text.substr(start, j - start));
    i = j;
  }
  return chunks;
}

}  // namespace moe::data
