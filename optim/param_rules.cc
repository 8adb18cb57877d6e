#include "optim/param_rules.h"

namespace moe::optim {

bool glob_match(std::string_view pattern, std::string_view name) {
  // Greedy matcher with backtracking to the last '*': linear in practice,
  // O(|pattern| * |name|) at worst, no recursion.
  size_t p = 0, n = 0;
  size_t star = std::string_view::npos, resume = 0;
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = n;
    } else if (p < pattern.size() && pattern[p] == name[n]) {
      ++p;
      ++n;
    } else if (star != std::string_view::npos) {
      p = star + 1;  // let the last '*' swallow one more character
      n = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

namespace {

std::vector<std::string_view> components(std::string_view name) {
  std::vector<std::string_view> out;
  size_t begin = 0;
  while (true) {
    const size_t dot = name.find('.', begin);
    out.push_back(name.substr(begin, dot == std::string_view::npos ? std::string_view::npos : dot - begin));
    if (dot == std::string_view::npos) return out;
    begin = dot + 1;
  }
}

bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }
bool ends_with(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

}  // namespace

bool default_no_decay(std::string_view name) {
  const auto parts = components(name);
  const std::string_view last = parts.back();
  if (last == "bias" || ends_with(last, "_bias")) return true;
  if (contains(last, "norm")) return true;
  return parts.size() >= 2 && contains(parts[parts.size() - 2], "norm");
}

bool is_no_decay(std::string_view name, const std::vector<std::string>& patterns) {
  if (patterns.empty()) return default_no_decay(name);
  for (const std::string& p : patterns)
    if (glob_match(p, name)) return true;
  return false;
}

bool is_muon_matrix(std::string_view name, const Shape& shape) {
  if (shape.size() != 2 && shape.size() != 3) return false;
  if (default_no_decay(name)) return false;
  for (std::string_view part : components(name))
    if (contains(part, "embed") || part == "head" || part == "lm_head") return false;
  return true;
}

}  // namespace moe::optim
