// The safetensors header and tensor table (io/safetensors.h) from arbitrary bytes, then every tensor read as f32.
#include "fuzz_support.h"
#include "io/mapped_file.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  websd::fuzz::expect_clear_errors([&] {
    auto file = websd::MappedFile::from_bytes(std::vector<uint8_t>(data, data + size), "fuzz.safetensors");
    const websd::SafetensorsFile st = websd::SafetensorsFile::parse(file);
    for (const auto& [name, t] : st.tensors())
      if (t.shape.numel() <= (1 << 16)) (void)t.to_f32();
  });
  return 0;
}
