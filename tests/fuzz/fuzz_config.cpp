// A component's config.json (io/config.h) read as each network's configuration (a ControlNet's checked against SD
// 1.5's UNet too) and as a scheduler's.
#include "fuzz_support.h"
#include "io/config.h"
#include "models/clip_text_encoder.h"
#include "models/controlnet.h"
#include "models/taesd.h"
#include "models/unet.h"
#include "models/vae.h"
#include "schedulers/scheduler.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  websd::Config c;
  bool parsed = false;
  websd::fuzz::expect_clear_errors([&] {
    c = websd::Config::parse(text, "fuzz/config.json");
    parsed = true;
  });
  if (!parsed) return 0;
  websd::fuzz::expect_clear_errors([&] { (void)websd::UNetConfig::from(c); });
  websd::fuzz::expect_clear_errors([&] { (void)websd::VaeConfig::from(c); });
  websd::fuzz::expect_clear_errors([&] { (void)websd::TaesdConfig::from(c); });
  websd::fuzz::expect_clear_errors([&] { (void)websd::ClipTextConfig::from(c); });
  websd::fuzz::expect_clear_errors([&] {
    const websd::ControlNetConfig cn = websd::ControlNetConfig::from(c);
    websd::check_controlnet_fits(cn, websd::UNetConfig::sd15(), 8, "fuzz");
  });
  for (const char* s : {"pndm", "euler_a", "dpmpp_2m_karras", "unipc", "lcm"})
    websd::fuzz::expect_clear_errors([&] {
      auto sched = websd::make_scheduler(s, c);
      sched->set_timesteps(4);
    });
  return 0;
}
