#include "apps/png_io.h"

#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "core/error.h"

namespace websd {
namespace {

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};

// libpng reports an error by longjmp to the setjmp of the function that called it: that is its design, and a C++
// exception must not unwind its C frames. The *_rows functions below hold that setjmp and keep no C++ objects with
// destructors of their own, so the jump skips nothing; the message waits in the struct's error pointer.
struct PngError {
  char message[200] = "unknown libpng error";
};

void on_error(png_structp png, png_const_charp message) {
  auto* e = static_cast<PngError*>(png_get_error_ptr(png));
  std::snprintf(e->message, sizeof e->message, "%s", message);
  png_longjmp(png, 1);
}
void on_warning(png_structp, png_const_charp) {}

bool write_rows(png_structp png, png_infop info, FILE* f, const RgbImage& image, png_text* chunks, int n) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_init_io(png, f);
  png_set_IHDR(png, info, png_uint_32(image.width), png_uint_32(image.height), 8, PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (n > 0) png_set_text(png, info, chunks, n);
  png_write_info(png, info);
  const uint8_t* row = image.pixels.data();
  for (int y = 0; y < image.height; ++y, row += size_t(image.width) * 3) png_write_row(png, row);
  png_write_end(png, nullptr);
  return true;
}

// Deflate never compresses more than 1032:1: image data of fewer bytes cannot hold the rows a header claims.
constexpr uint64_t kMaxDeflateRatio = 1032;

// Reads the header (sizes checked against `limit` per side by libpng, and against what `idat_bytes` of image data
// can hold) into *width / *height; *plausible is false for a header the data cannot fill.
bool read_header(png_structp png, png_infop info, FILE* f, png_uint_32 limit, uint64_t idat_bytes, int* width,
                 int* height, bool* plausible) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_user_limits(png, limit, limit);
  png_init_io(png, f);
  png_read_info(png, info);
  *plausible = uint64_t(png_get_rowbytes(png, info)) * png_get_image_height(png, info) <=
               kMaxDeflateRatio * (idat_bytes + 1);
  if (!*plausible) return true;
  png_set_strip_16(png);
  png_set_strip_alpha(png);
  png_set_palette_to_rgb(png);
  png_set_gray_to_rgb(png);
  png_read_update_info(png, info);
  *width = int(png_get_image_width(png, info));
  *height = int(png_get_image_height(png, info));
  return true;
}

bool read_rows(png_structp png, png_infop info, uint8_t* pixels, int width, int height) {
  if (setjmp(png_jmpbuf(png))) return false;
  for (int y = 0; y < height; ++y) png_read_row(png, pixels + size_t(y) * size_t(width) * 3, nullptr);
  png_read_end(png, info);
  return true;
}

constexpr png_uint_32 kMaxReadSide = 16384;  // larger PNGs are refused before any pixel memory is taken

// Every chunk's length against the bytes the file has left, before libpng reads it: libpng allocates a text
// chunk's claimed length before reading it (a 112-byte file claiming a 1.8 GB tEXt, found by scripts/fuzz.sh).
// An empty string when they fit; else what is wrong. Leaves the file at its start.
std::string chunk_lengths_problem(FILE* f, uint64_t* idat_bytes) {
  *idat_bytes = 0;
  if (std::fseek(f, 0, SEEK_END) != 0) return "";
  const long size = std::ftell(f);
  std::string problem;
  long at = 8;  // after the signature
  for (uint8_t head[8]; size >= 0 && at + 12 <= size;) {
    if (std::fseek(f, at, SEEK_SET) != 0 || std::fread(head, 1, 8, f) != 8) break;
    const uint64_t length = uint64_t(head[0]) << 24 | uint64_t(head[1]) << 16 | uint64_t(head[2]) << 8 | head[3];
    if (length > uint64_t(size - at - 12)) {
      problem = "a " + std::string(reinterpret_cast<const char*>(head + 4), 4) + " chunk claims " +
                std::to_string(length) + " bytes but the file has " + std::to_string(size - at - 12) + " left";
      break;
    }
    if (std::memcmp(head + 4, "IEND", 4) == 0) break;
    if (std::memcmp(head + 4, "IDAT", 4) == 0) *idat_bytes += length;
    at += long(length) + 12;
  }
  std::rewind(f);
  return problem;
}

}  // namespace

void write_png(const std::string& path, const RgbImage& image, const PngText& text) {
  std::unique_ptr<FILE, FileCloser> f(std::fopen(path.c_str(), "wb"));
  if (!f) throw Error(ErrorCode::kNotFound, path + ": cannot create the file (does the folder exist?)");
  PngError err;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &err, on_error, on_warning);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!info) {
    png_destroy_write_struct(&png, nullptr);
    throw Error(ErrorCode::kOutOfMemory, "libpng: cannot allocate");
  }
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
  const bool ok = write_rows(png, info, f.get(), image, chunks.data(), int(chunks.size()));
  png_destroy_write_struct(&png, &info);
  if (!ok || std::fflush(f.get()) != 0)
    throw Error(ErrorCode::kInvalidArgument,
                path + ": writing the PNG failed (" + (ok ? "the disk refused the data" : err.message) + ")");
}

RgbImage read_png(const std::string& path, PngText* text) {
  std::unique_ptr<FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
  if (!f) throw Error(ErrorCode::kNotFound, path + ": cannot open");
  uint64_t idat_bytes = 0;
  if (const std::string problem = chunk_lengths_problem(f.get(), &idat_bytes); !problem.empty())
    throw Error(ErrorCode::kCorruptFile, path + ": not a readable PNG (" + problem + ")");
  PngError err;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &err, on_error, on_warning);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    throw Error(ErrorCode::kOutOfMemory, "libpng: cannot allocate");
  }
  RgbImage img;
  bool plausible = true;
  bool ok = read_header(png, info, f.get(), kMaxReadSide, idat_bytes, &img.width, &img.height, &plausible);
  if (ok && !plausible) {
    const std::string size = std::to_string(png_get_image_width(png, info)) + "x" +
                             std::to_string(png_get_image_height(png, info));
    png_destroy_read_struct(&png, &info, nullptr);
    throw Error(ErrorCode::kCorruptFile, path + ": not a readable PNG (" + std::to_string(idat_bytes) +
                                             " bytes of image data cannot hold a " + size + " image)");
  }
  if (ok) {
    img.pixels.resize(size_t(img.width) * size_t(img.height) * 3);
    ok = read_rows(png, info, img.pixels.data(), img.width, img.height);
  }
  if (ok && text) {
    png_textp chunks = nullptr;
    const int n = png_get_text(png, info, &chunks, nullptr);
    for (int i = 0; i < n; ++i)
      text->emplace_back(chunks[i].key, std::string(chunks[i].text, chunks[i].itxt_length ? chunks[i].itxt_length
                                                                                         : chunks[i].text_length));
  }
  png_destroy_read_struct(&png, &info, nullptr);
  if (!ok) throw Error(ErrorCode::kCorruptFile, path + ": not a readable PNG (" + err.message + ")");
  return img;
}

}  // namespace websd
