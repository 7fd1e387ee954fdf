#include "backends/profile_report.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

namespace websd {

ProfileReport summarize_profile(const std::vector<ProfiledStep>& steps) {
  std::map<std::pair<std::string, std::string>, ProfileRow> groups;
  ProfileReport r;
  for (const ProfiledStep& s : steps) {
    ProfileRow& row = groups[{s.kernel, s.shape}];
    row.kernel = s.kernel;
    row.shape = s.shape;
    row.count += 1;
    row.ms += s.ms;
    row.flops += s.flops;
    row.bytes += s.bytes;
    r.total_ms += s.ms;
  }
  r.steps = int(steps.size());
  for (auto& [key, row] : groups) r.rows.push_back(std::move(row));
  std::sort(r.rows.begin(), r.rows.end(), [](const ProfileRow& a, const ProfileRow& b) { return a.ms > b.ms; });
  return r;
}

namespace {

std::string line(const char* kernel, const char* shape, int count, double ms, double total, double flops,
                 double bytes) {
  char rate[32];
  if (flops > 0)
    std::snprintf(rate, sizeof rate, "%7.1f TFLOP/s", ms > 0 ? flops / ms / 1e9 : 0.0);
  else
    std::snprintf(rate, sizeof rate, "%7.0f GB/s   ", ms > 0 ? bytes / ms / 1e6 : 0.0);
  char buf[256];
  std::snprintf(buf, sizeof buf, "  %-24.24s %-34.34s %5d %9.3f %6.1f%%  %s\n", kernel, shape, count, ms,
                total > 0 ? 100 * ms / total : 0.0, rate);
  return buf;
}

}  // namespace

std::string format_profile(const ProfileReport& r, double run_ms, size_t max_rows) {
  char head[256];
  std::snprintf(head, sizeof head, "  %-24s %-34s %5s %9s %7s  %s\n", "kernel", "shape", "count", "ms", "share",
                "achieved");
  std::string out = head;
  double rest_ms = 0, rest_flops = 0, rest_bytes = 0;
  int rest_count = 0;
  for (size_t i = 0; i < r.rows.size(); ++i) {
    const ProfileRow& row = r.rows[i];
    if (i < max_rows) {
      out += line(row.kernel.c_str(), row.shape.c_str(), row.count, row.ms, r.total_ms, row.flops, row.bytes);
    } else {
      rest_ms += row.ms;
      rest_flops += row.flops;
      rest_bytes += row.bytes;
      rest_count += row.count;
    }
  }
  if (rest_count)
    out += line(("(" + std::to_string(r.rows.size() - max_rows) + " more rows)").c_str(), "", rest_count, rest_ms,
                r.total_ms, rest_flops, rest_bytes);
  double flops = 0;
  for (const ProfileRow& row : r.rows) flops += row.flops;
  char tail[256];
  std::snprintf(tail, sizeof tail, "  sum of %d steps: %.2f ms (%.1f TFLOP/s)", r.steps, r.total_ms,
                r.total_ms > 0 ? flops / r.total_ms / 1e9 : 0.0);
  out += tail;
  if (run_ms > 0) {
    std::snprintf(tail, sizeof tail, "; one ordinary run: %.2f ms (the sum is %.1f%% of it)", run_ms,
                  100 * r.total_ms / run_ms);
    out += tail;
  }
  return out + "\n";
}

std::string profile_json(const ProfileReport& r, double run_ms) {
  nlohmann::json j{{"total_ms", r.total_ms}, {"run_ms", run_ms}, {"steps", r.steps}, {"rows", nlohmann::json::array()}};
  for (const ProfileRow& row : r.rows)
    j["rows"].push_back({{"kernel", row.kernel}, {"shape", row.shape}, {"count", row.count}, {"ms", row.ms},
                         {"gflop", row.flops / 1e9}, {"mb", row.bytes / 1e6}});
  return j.dump(1);
}

}  // namespace websd
