#include "pipeline/control_image.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "core/error.h"

#define STB_IMAGE_RESIZE_IMPLEMENTATION
#define STB_IMAGE_RESIZE_STATIC
#include <stb_image_resize.h>

namespace websd {

bool parse_control_preprocessor(const std::string& s, ControlPreprocessor* out) {
  if (s == "none") *out = ControlPreprocessor::kNone;
  else if (s == "canny") *out = ControlPreprocessor::kCanny;
  else return false;
  return true;
}

const char* control_preprocessor_name(ControlPreprocessor p) {
  return p == ControlPreprocessor::kCanny ? "canny" : "none";
}

bool parse_control_resize(const std::string& s, ControlResize* out) {
  if (s == "crop") *out = ControlResize::kCrop;
  else if (s == "stretch") *out = ControlResize::kStretch;
  else return false;
  return true;
}

const char* control_resize_name(ControlResize r) { return r == ControlResize::kStretch ? "stretch" : "crop"; }

std::vector<uint8_t> canny_edges(const uint8_t* pixels, int width, int height, int channels, double low_thresh,
                                 double high_thresh) {
  if (width <= 0 || height <= 0 || (channels != 1 && channels != 3))
    throw Error(ErrorCode::kInvalidArgument, "canny: needs a 1- or 3-channel image of positive size");
  if (low_thresh > high_thresh) std::swap(low_thresh, high_thresh);
  const int low = int(std::floor(low_thresh)), high = int(std::floor(high_thresh));
  const size_t W = size_t(width), H = size_t(height), n = W * H;
  // The gradient of the channel with the largest magnitude (the first on ties), as cv::Canny takes it.
  std::vector<int> dx(n), dy(n), mag(n);
  const auto at = [&](int x, int y, int c) {
    x = std::clamp(x, 0, width - 1);
    y = std::clamp(y, 0, height - 1);
    return int(pixels[(size_t(y) * W + size_t(x)) * size_t(channels) + size_t(c)]);
  };
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      int best = -1;
      for (int c = 0; c < channels; ++c) {
        const int gx = (at(x + 1, y - 1, c) + 2 * at(x + 1, y, c) + at(x + 1, y + 1, c)) -
                       (at(x - 1, y - 1, c) + 2 * at(x - 1, y, c) + at(x - 1, y + 1, c));
        const int gy = (at(x - 1, y + 1, c) + 2 * at(x, y + 1, c) + at(x + 1, y + 1, c)) -
                       (at(x - 1, y - 1, c) + 2 * at(x, y - 1, c) + at(x + 1, y - 1, c));
        const int m = std::abs(gx) + std::abs(gy);
        if (m > best) {
          best = m;
          const size_t i = size_t(y) * W + size_t(x);
          dx[i] = gx, dy[i] = gy, mag[i] = m;
        }
      }
    }
  // Outside the image the magnitude is 0, as in OpenCV's padded rows.
  const auto m_at = [&](int x, int y) {
    return x < 0 || y < 0 || x >= width || y >= height ? 0 : mag[size_t(y) * W + size_t(x)];
  };
  // Non-maximum suppression with OpenCV's fixed-point tangents (tan 22.5° in 15 bits) and its tie rules (strict
  // toward the previous pixel, not toward the next): 0 = a candidate, 1 = not an edge, 2 = an edge.
  constexpr int kShift = 15;
  const int64_t tg22 = int64_t(0.4142135623730950488016887242097 * (1 << kShift) + 0.5);
  std::vector<uint8_t> map(n, 1);
  std::vector<size_t> stack;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      const size_t i = size_t(y) * W + size_t(x);
      const int m = mag[i];
      if (m <= low) continue;
      const int64_t ax = std::abs(dx[i]), ay = int64_t(std::abs(dy[i])) << kShift, tg22x = ax * tg22;
      bool peak;
      if (ay < tg22x) {
        peak = m > m_at(x - 1, y) && m >= m_at(x + 1, y);
      } else if (ay > tg22x + (ax << (kShift + 1))) {
        peak = m > m_at(x, y - 1) && m >= m_at(x, y + 1);
      } else {
        const int s = (dx[i] ^ dy[i]) < 0 ? -1 : 1;
        peak = m > m_at(x - s, y - 1) && m > m_at(x + s, y + 1);
      }
      if (!peak) continue;
      map[i] = m > high ? 2 : 0;
      if (map[i] == 2) stack.push_back(i);
    }
  // Hysteresis: candidates 8-connected to an edge become edges.
  while (!stack.empty()) {
    const size_t i = stack.back();
    stack.pop_back();
    const int x = int(i % W), y = int(i / W);
    for (int oy = -1; oy <= 1; ++oy)
      for (int ox = -1; ox <= 1; ++ox) {
        const int nx = x + ox, ny = y + oy;
        if (nx < 0 || ny < 0 || nx >= width || ny >= height) continue;
        const size_t j = size_t(ny) * W + size_t(nx);
        if (map[j] == 0) {
          map[j] = 2;
          stack.push_back(j);
        }
      }
  }
  std::vector<uint8_t> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = map[i] == 2 ? 255 : 0;
  return out;
}

FloatImage fit_image(const FloatImage& image, int width, int height, ControlResize mode) {
  if (image.width == width && image.height == height) return image;
  int x0 = 0, y0 = 0, cw = image.width, ch = image.height;
  if (mode == ControlResize::kCrop) {
    // The largest centred region with the target's aspect ratio.
    if (int64_t(image.width) * height > int64_t(image.height) * width) {
      cw = std::max(1, int(std::lround(double(image.height) * width / height)));
      x0 = (image.width - cw) / 2;
    } else {
      ch = std::max(1, int(std::lround(double(image.width) * height / width)));
      y0 = (image.height - ch) / 2;
    }
  }
  const float* first = image.rgb.data() + (size_t(y0) * size_t(image.width) + size_t(x0)) * 3;
  FloatImage out{width, height, std::vector<float>(size_t(width) * size_t(height) * 3)};
  if (!stbir_resize_float(first, cw, ch, int(size_t(image.width) * 3 * sizeof(float)), out.rgb.data(), width,
                          height, 0, 3))
    throw Error(ErrorCode::kOutOfMemory, "resizing the control image failed");
  for (float& v : out.rgb) v = std::clamp(v, 0.0f, 1.0f);  // the filters overshoot at sharp edges
  return out;
}

FloatImage prepare_control_image(const FloatImage& image, int width, int height, const ControlImageOptions& o) {
  if (image.empty() || image.width <= 0 || image.height <= 0 ||
      image.rgb.size() != size_t(image.width) * size_t(image.height) * 3)
    throw Error(ErrorCode::kInvalidArgument, "the control image is empty or its pixels do not match its size");
  if (!(o.canny_low >= 0 && o.canny_low <= 10000 && o.canny_high >= 0 && o.canny_high <= 10000))
    throw Error(ErrorCode::kInvalidArgument, "Canny thresholds must be in [0, 10000] (the usual: 100 and 200)");
  FloatImage map = fit_image(image, width, height, o.resize);
  if (o.preprocessor == ControlPreprocessor::kCanny) {
    std::vector<uint8_t> bytes(map.rgb.size());
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = uint8_t(std::lround(map.rgb[i] * 255.0f));
    const std::vector<uint8_t> edges = canny_edges(bytes.data(), width, height, 3, o.canny_low, o.canny_high);
    for (size_t p = 0; p < edges.size(); ++p)
      for (size_t c = 0; c < 3; ++c) map.rgb[p * 3 + c] = edges[p] ? 1.0f : 0.0f;
  }
  if (o.invert)
    for (float& v : map.rgb) v = 1.0f - v;
  return map;
}

}  // namespace websd
