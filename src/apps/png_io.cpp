#include "apps/png_io.h"

#include <png.h>

#include <cstdio>
#include <memory>

#include "core/error.h"

namespace websd {
namespace {

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};

[[noreturn]] void png_failed(png_structp, png_const_charp message) { throw Error(ErrorCode::kCorruptFile, message); }

}  // namespace

void write_png(const std::string& path, const RgbImage& image, const PngText& text) {
  std::unique_ptr<FILE, FileCloser> f(std::fopen(path.c_str(), "wb"));
  if (!f) throw Error(ErrorCode::kNotFound, path + ": cannot create the file (does the folder exist?)");
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, png_failed, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!info) {
    png_destroy_write_struct(&png, nullptr);
    throw Error(ErrorCode::kOutOfMemory, "libpng: cannot allocate");
  }
  try {
    png_init_io(png, f.get());
    png_set_IHDR(png, info, png_uint_32(image.width), png_uint_32(image.height), 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    std::vector<png_text> chunks(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
      // iTXt keeps UTF-8 prompts intact; tEXt is Latin-1 only.
      chunks[i].compression = PNG_ITXT_COMPRESSION_NONE;
      chunks[i].key = const_cast<char*>(text[i].first.c_str());
      chunks[i].text = const_cast<char*>(text[i].second.c_str());
      chunks[i].text_length = 0;
      chunks[i].itxt_length = text[i].second.size();
      chunks[i].lang = nullptr;
      chunks[i].lang_key = nullptr;
    }
    if (!chunks.empty()) png_set_text(png, info, chunks.data(), int(chunks.size()));
    png_write_info(png, info);
    for (int y = 0; y < image.height; ++y)
      png_write_row(png, image.pixels.data() + size_t(y) * size_t(image.width) * 3);
    png_write_end(png, nullptr);
  } catch (const Error& e) {
    png_destroy_write_struct(&png, &info);
    throw Error(ErrorCode::kNotFound, path + ": writing the PNG failed (" + e.what() + ")");
  }
  png_destroy_write_struct(&png, &info);
}

RgbImage read_png(const std::string& path, PngText* text) {
  std::unique_ptr<FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
  if (!f) throw Error(ErrorCode::kNotFound, path + ": cannot open");
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, nullptr, png_failed, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    throw Error(ErrorCode::kOutOfMemory, "libpng: cannot allocate");
  }
  RgbImage img;
  try {
    png_init_io(png, f.get());
    png_read_info(png, info);
    png_set_strip_16(png);
    png_set_strip_alpha(png);
    png_set_palette_to_rgb(png);
    png_set_gray_to_rgb(png);
    png_read_update_info(png, info);
    img.width = int(png_get_image_width(png, info));
    img.height = int(png_get_image_height(png, info));
    img.pixels.resize(size_t(img.width) * size_t(img.height) * 3);
    for (int y = 0; y < img.height; ++y) png_read_row(png, img.pixels.data() + size_t(y) * size_t(img.width) * 3, nullptr);
    png_read_end(png, info);
    if (text) {
      png_textp chunks = nullptr;
      int n = png_get_text(png, info, &chunks, nullptr);
      for (int i = 0; i < n; ++i)
        text->emplace_back(chunks[i].key, std::string(chunks[i].text, chunks[i].itxt_length ? chunks[i].itxt_length
                                                                                           : chunks[i].text_length));
    }
  } catch (const Error& e) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw Error(ErrorCode::kCorruptFile, path + ": not a readable PNG (" + e.what() + ")");
  }
  png_destroy_read_struct(&png, &info, nullptr);
  return img;
}

}  // namespace websd
