// What a generation may ask for: refused up front, with the limit in the message, so that nothing runs for minutes
// to fail or exhausts memory (docs/limits.md says what each guards against). One source for the engine, the CLI and
// the C API's documentation.
#pragma once

#include <cstddef>
#include <cstdint>

namespace websd::limits {

inline constexpr int kMaxImageSide = 4096;                   // pixels, width or height
inline constexpr int64_t kMaxImagePixels = 2048 * 2048;      // width x height (4 MP: 4x SDXL's native area)
inline constexpr int kMaxSteps = 1000;                       // the noise schedules' training timesteps
inline constexpr int kMaxBatchCount = 1000;                  // images of one call (made one after another)
inline constexpr size_t kMaxPromptBytes = 64 * 1024;         // each prompt
inline constexpr int kMaxPromptChunks = 16;                  // of 75 tokens each prompt: 1200 tokens, 1232 for the UNet

}  // namespace websd::limits
