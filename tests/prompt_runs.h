// A weighted prompt of two chunks (prompt_chunks.h) and its run on tiny-sd1, one table for the cpu tests
// (test_prompt_encoding.cpp) and the webgpu checks (web/model_parity.cpp), which compare the webgpu backend's
// conditioning and image with the cpu backend's.
#pragma once

#include <string>

#include "pipeline/stable_diffusion.h"

namespace websd::test {

// 75 + 13 tokens: the second chunk starts after the comma (20 tokens from the end of the first), weights in both.
inline std::string long_weighted_prompt() {
  std::string s = "a (photo:1.3) of";
  for (int i = 0; i < 54; ++i) s += " cat";
  s += ", [[a red fox]] on mars";
  for (int i = 0; i < 15; ++i) s += " dog";
  return s + " ((in the snow))";
}

inline GenerateParams long_prompt_params() {
  GenerateParams p;
  p.width = p.height = 64;
  p.steps = 3;
  p.seed = 5;
  p.scheduler = "euler_a";
  p.prompt = long_weighted_prompt();
  p.negative_prompt = "blurry, (low quality:1.2)";
  return p;
}

}  // namespace websd::test
