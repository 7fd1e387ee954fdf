// The webgpu backend: each graph becomes one program of WGSL dispatches, run on the GPU that the JS host owns
// (through the host seam, gpu_seam.h). Activations live in one arena buffer laid out by the static memory
// planner; weights are uploaded once per model (f16 stays f16 and is expanded in the shaders).
#pragma once

#include "backends/backend.h"

namespace websd {

// Throws Error(kUnsupported) with the host's reason when there is no WebGPU device.
std::unique_ptr<Backend> make_webgpu_backend();

}  // namespace websd
