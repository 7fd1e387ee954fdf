// Control images for ControlNets: a picture fitted to the generation size and turned into the map a ControlNet
// reads (Canny edges, the picture as it is, inverted). Depth and pose maps need networks of their own (MiDaS,
// OpenPose) that websd does not include: make them elsewhere and pass them as they are.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/image.h"

namespace websd {

enum class ControlPreprocessor { kNone, kCanny };
enum class ControlResize { kCrop, kStretch };

struct ControlImageOptions {
  ControlPreprocessor preprocessor = ControlPreprocessor::kNone;
  // cv::Canny's thresholds on the L1 gradient magnitude of 8-bit pixels (3×3 Sobel): edges are pixels above
  // `high`, and those above `low` connected to them. The usual choice for ControlNet: 100, 200.
  double canny_low = 100, canny_high = 200;
  bool invert = false;  // 1 - the map: for maps drawn dark on light
  // Another size than the generation's: kCrop scales the picture to cover it and cuts the middle (the aspect ratio
  // kept); kStretch scales each side to fit (diffusers' resize).
  ControlResize resize = ControlResize::kCrop;
};

// Names as the command line, the C API and the page spell them: "none" / "canny", "crop" / "stretch".
bool parse_control_preprocessor(const std::string& s, ControlPreprocessor* out);
const char* control_preprocessor_name(ControlPreprocessor p);
bool parse_control_resize(const std::string& s, ControlResize* out);
const char* control_resize_name(ControlResize r);

// What OpenCV's cv::Canny(image, low, high) computes for an 8-bit image of `channels` (1 or 3) channels: the 3×3
// Sobel gradient (borders replicated; of a colour image, the channel with the largest magnitude), its L1
// magnitude, non-maximum suppression along the gradient's direction (rounded to 0°, 45°, 90° or 135°), then
// hysteresis over 8-connected neighbours. 255 on edges, 0 elsewhere, one byte per pixel.
std::vector<uint8_t> canny_edges(const uint8_t* pixels, int width, int height, int channels, double low,
                                 double high);

// `image` scaled to width x height (antialiased: stb_image_resize's Mitchell filter down, Catmull-Rom up); the
// same image where the size already matches.
FloatImage fit_image(const FloatImage& image, int width, int height, ControlResize mode);

// The control map a ControlNet reads for `image` at width x height: fitted, preprocessed, inverted if asked.
// Error(kInvalidArgument) for an empty image or thresholds outside [0, 10000].
FloatImage prepare_control_image(const FloatImage& image, int width, int height, const ControlImageOptions& options);

}  // namespace websd
