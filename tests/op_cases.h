// The op-by-op harness: each case is a tiny declarative graph around one op. The harness runs it on a backend
// under test and on the cpu reference and compares by normalised error. A new op is not done until it has cases.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/graph.h"

namespace websd::test {

struct OpCase {
  std::string name;
  std::function<void(Graph&, std::vector<std::shared_ptr<void>>&)> build;  // may keep weight storage alive
};

// Every case, covering every op with edge shapes (odd sizes, strides, causal masks, f16/bf16 weights).
std::vector<OpCase> all_op_cases();

}  // namespace websd::test
