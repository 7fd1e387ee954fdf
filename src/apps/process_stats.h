// What the process itself used: peak resident memory, read from the OS.
#pragma once

#include <cstddef>

namespace websd {

size_t peak_rss_bytes();     // high-water mark of resident memory since the process started (0 if unknown)
size_t current_rss_bytes();  // resident memory now (0 if unknown)

}  // namespace websd
