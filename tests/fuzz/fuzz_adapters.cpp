// LoRA and textual-inversion files from anywhere (adapters/lora.h, adapters/embedding.h), read as each.
#include "adapters/embedding.h"
#include "adapters/lora.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = websd::fuzz::write_file("adapter.safetensors", data, size);
  websd::fuzz::expect_clear_errors([&] {
    const auto lora = websd::LoraFile::open(path);
    for (const websd::LoraModule& m : lora->modules())
      if (m.down.shape.numel() <= (1 << 16) && m.up.shape.numel() <= (1 << 16)) {
        (void)m.down.to_f32();
        (void)m.up.to_f32();
      }
  });
  websd::fuzz::expect_clear_errors([&] {
    const auto e = websd::EmbeddingFile::open(path);
    for (int dim : {768, 1024, 1280}) (void)e->vectors_for("text_encoder", dim);
  });
  return 0;
}
