// PNG files through libpng, with tEXt chunks so that an image carries its generation parameters.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "pipeline/image.h"

namespace websd {

using PngText = std::vector<std::pair<std::string, std::string>>;

// Throws Error(kNotFound) if the file cannot be created, Error(kInvalidArgument) if writing it fails.
void write_png(const std::string& path, const RgbImage& image, const PngText& text);
// Reads an 8-bit RGB(A) PNG (alpha dropped; at most 16384 pixels a side) and its text chunks; a damaged file is an
// Error(kCorruptFile).
RgbImage read_png(const std::string& path, PngText* text = nullptr);

}  // namespace websd
