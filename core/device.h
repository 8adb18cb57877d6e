#pragma once
#include <cstdint>
#include <ostream>
#include <string>

namespace moe {

enum class DeviceType : uint8_t { cpu, cuda };

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;

  static Device cpu() { return {DeviceType::cpu, 0}; }
  static Device cuda(int i = 0) { return {DeviceType::cuda, i}; }
  bool is_cpu() const { return type == DeviceType::cpu; }
  bool is_cuda() const { return type == DeviceType::cuda; }
  bool operator==(const Device&) const = default;
  std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }
  // Parses "cpu", "cuda", "cuda:N"; throws moe::Error on anything else.
  static Device parse(const std::string& s);
};

// Number of usable CUDA devices: 0 in a build without CUDA, or without a
// driver or a device (core/cuda/runtime.cu; the SIM has one).
int cuda_device_count();

inline std::ostream& operator<<(std::ostream& os, const Device& d) { return os << d.str(); }

}  // namespace moe
