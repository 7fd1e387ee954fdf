// A web pack's manifest.json (io/pack_source.h) beside one 256-byte shard: opened, and every tensor it lists read.
#include <vector>

#include "fuzz_support.h"
#include "io/model_source.h"
#include "io/pack_source.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool shard = [] {
    std::vector<uint8_t> bytes(256);
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = uint8_t(i * 37);
    websd::fuzz::write_file("pack/shard-0.bin", bytes.data(), bytes.size());
    return true;
  }();
  (void)shard;
  websd::fuzz::write_file("pack/manifest.json", data, size);
  websd::fuzz::expect_clear_errors([&] {
    const auto pack = websd::open_pack((websd::fuzz::scratch() / "pack").string());
    for (const char* component : {"unet", "vae", "text_encoder"}) {
      websd::fuzz::expect_clear_errors([&] {
        const auto weights = pack->weights(component);
        for (const auto& t : weights->list())
          if (t.shape.numel() <= 4096) (void)websd::resident(weights->get(t.name, t.shape));
      });
      websd::fuzz::expect_clear_errors([&] { (void)pack->config(component); });
    }
  });
  return 0;
}
