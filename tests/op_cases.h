// The op-by-op harness: each case is a tiny declarative graph around one op. The harness runs it on a backend
// under test and on the cpu reference and compares by normalised error. A new op is not done until it has cases.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "core/graph.h"

namespace websd::test {

struct OpCase {
  std::string name;
  std::function<void(Graph&, std::vector<std::shared_ptr<void>>&)> build;  // may keep weight storage alive
};

// Every case, covering every op with edge shapes (odd sizes, strides, causal masks, f16/bf16 weights).
std::vector<OpCase> all_op_cases();

// A case compiled on one backend, its inputs set to the same seeded random values on every backend.
struct PreparedCase {
  std::shared_ptr<Graph> graph;
  std::vector<std::shared_ptr<void>> keep;
  std::unique_ptr<Executable> exe;
};
PreparedCase prepare_case(Backend& backend, const OpCase& c);
std::vector<float> read_output(PreparedCase& p);
// prepare_case, one run, read_output.
std::vector<float> run_op_case(Backend& backend, const OpCase& c);

// Sum of squared differences over the sum of squares of the reference.
double normalised_error(const std::vector<float>& got, const std::vector<float>& want);

}  // namespace websd::test
