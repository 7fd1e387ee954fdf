// Images users open (init images, masks) and PNG text chunks, read by apps/png_io.h from arbitrary bytes.
#include "apps/png_io.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = websd::fuzz::write_file("image.png", data, size);
  websd::fuzz::expect_clear_errors([&] {
    websd::PngText text;
    (void)websd::read_png(path, &text);
  });
  return 0;
}
