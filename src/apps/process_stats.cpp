#include "apps/process_stats.h"

#include <cstdio>
#include <cstring>

namespace websd {
namespace {

size_t status_field_kib(const char* field) {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  size_t kib = 0;
  const size_t n = std::strlen(field);
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, field, n) == 0) {
      std::sscanf(line + n, " %zu", &kib);
      break;
    }
  std::fclose(f);
  return kib;
}

}  // namespace

size_t peak_rss_bytes() { return status_field_kib("VmHWM:") * 1024; }
size_t current_rss_bytes() { return status_field_kib("VmRSS:") * 1024; }

}  // namespace websd
