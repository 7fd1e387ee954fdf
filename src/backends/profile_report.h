// A network's device profile (Executable::profile) summarised for people and tools: steps grouped by kernel and
// problem size, with their count, time, share of the run and achieved rate.
#pragma once

#include <string>
#include <vector>

#include "backends/backend.h"

namespace websd {

struct ProfileRow {
  std::string kernel, shape;
  int count = 0;
  double ms = 0, flops = 0, bytes = 0;
};

struct ProfileReport {
  std::vector<ProfileRow> rows;  // by time, largest first
  double total_ms = 0;           // the sum of every step's device time
  int steps = 0;
};

ProfileReport summarize_profile(const std::vector<ProfiledStep>& steps);

// A text table: kernel, shape, count, ms, % of the total, TFLOP/s (matrix work) or GB/s (the rest), at most
// `max_rows` rows (the remainder summed in one line); `run_ms` (the end-to-end time of one ordinary run, 0 if
// unknown) is printed beside the sum.
std::string format_profile(const ProfileReport& r, double run_ms, size_t max_rows = 40);

// The same as JSON: {"total_ms", "run_ms", "steps", "rows": [{"kernel", "shape", "count", "ms", "gflop", "mb"}]}.
std::string profile_json(const ProfileReport& r, double run_ms);

}  // namespace websd
