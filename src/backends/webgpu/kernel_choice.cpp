#include "backends/webgpu/kernel_choice.h"

#include <sstream>

#include "core/error.h"

namespace websd::webgpu {
namespace {

KernelChoice& current() {
  static KernelChoice choice;
  return choice;
}

}  // namespace

KernelChoice parse_kernel_choice(const std::string& spec) {
  KernelChoice c;
  std::istringstream items(spec);
  for (std::string item; std::getline(items, item, ',');) {
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    const std::string family = item.substr(0, eq), value = eq == std::string::npos ? "" : item.substr(eq + 1);
    int v = -1;
    if (value != "auto") {
      try {
        v = std::stoi(value);
      } catch (...) {
        throw Error(ErrorCode::kInvalidArgument, "kernel choice '" + item + "': the value must be a number or auto");
      }
    }
    if (family == "gemm" && v < kGemmVariants) c.gemm = v;
    else if (family == "gemm_split" && v >= 0 && v <= 64) c.gemm_split = v;
    else if (family == "attention" && v < kAttentionVariants) c.attention = v;
    else if (family == "group_norm" && v < kGroupNormVariants) c.group_norm = v;
    else if (family == "layer_norm" && v < kLayerNormVariants) c.layer_norm = v;
    else if (family == "software" && v < 2) c.software = v;
    else if (family == "winograd" && v < kWinogradVariants) c.winograd = v;
    else if (family == "winograd_tiles" && v >= 0) c.winograd_tiles = v;
    else if (family == "linear_a" && v < 2) c.linear_a = v;
    else
      throw Error(ErrorCode::kInvalidArgument, "kernel choice '" + item +
                                                   "': families are gemm=0.." + std::to_string(kGemmVariants - 1) +
                                                   ", gemm_split=0..64, attention=0.." + std::to_string(kAttentionVariants - 1) +
                                                   ", group_norm=0.." + std::to_string(kGroupNormVariants - 1) +
                                                   ", layer_norm=0.." + std::to_string(kLayerNormVariants - 1) +
                                                   ", winograd=0.." + std::to_string(kWinogradVariants - 1) +
                                                   ", winograd_tiles=0..N, linear_a=0..1, software=0..1" +
                                                   " (or auto)");
  }
  return c;
}

void set_kernel_choice(const std::string& spec) { current() = parse_kernel_choice(spec); }
void set_kernel_choice(const KernelChoice& choice) { current() = choice; }

KernelChoice merged(const KernelChoice& forced, const KernelChoice& tuned) {
  KernelChoice c = forced;
  const auto take = [](int& mine, int theirs, int automatic) {
    if (mine == automatic) mine = theirs;
  };
  take(c.gemm, tuned.gemm, -1);
  take(c.gemm_split, tuned.gemm_split, 0);
  take(c.attention, tuned.attention, -1);
  take(c.group_norm, tuned.group_norm, -1);
  take(c.layer_norm, tuned.layer_norm, -1);
  take(c.winograd, tuned.winograd, -1);
  take(c.linear_a, tuned.linear_a, -1);
  take(c.winograd_tiles, tuned.winograd_tiles, 0);
  return c;
}

const KernelChoice& kernel_choice() { return current(); }

bool software_rules(bool adapter_is_software) {
  const int s = current().software;
  return s < 0 ? adapter_is_software : s == 1;
}

}  // namespace websd::webgpu
