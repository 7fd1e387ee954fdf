#include "pipeline/family.h"

#include <utility>
#include <vector>

#include "core/error.h"

namespace websd {
namespace {

constexpr const char* kSupported =
    "websd runs StableDiffusionPipeline (SD 1.x, 2.x, SD-Turbo), StableDiffusionInpaintPipeline (SD 1.x/2.x "
    "inpainting), StableDiffusionXLPipeline (SDXL, SDXL-Turbo) and LatentConsistencyModelPipeline (LCM)";

// Pipelines people meet, with what they are.
const char* known_pipeline(const std::string& cls) {
  static const std::pair<const char*, const char*> kKnown[] = {
      {"StableDiffusion3Pipeline",
       "Stable Diffusion 3, an MMDiT transformer with three text encoders (flow matching)"},
      {"FluxPipeline", "Flux, a flow-matching transformer conditioned on T5 and CLIP"},
      {"StableDiffusionXLInpaintPipeline", "an SDXL inpainting pipeline"},
      {"StableDiffusionImg2ImgPipeline", "an image-to-image pipeline"},
      {"StableDiffusionXLImg2ImgPipeline",
       "an SDXL image-to-image pipeline (the SDXL refiner is saved as one)"},
      {"StableDiffusionUpscalePipeline", "the x4 upscaler"},
      {"StableDiffusionDepth2ImgPipeline", "a depth-to-image pipeline"},
      {"StableDiffusionInstructPix2PixPipeline", "InstructPix2Pix"},
      {"StableDiffusionControlNetPipeline", "a ControlNet pipeline"},
      {"StableDiffusionXLControlNetPipeline", "an SDXL ControlNet pipeline"},
      {"PixArtAlphaPipeline", "PixArt-alpha, a diffusion transformer with a T5 text encoder"},
      {"PixArtSigmaPipeline", "PixArt-sigma, a diffusion transformer with a T5 text encoder"},
      {"StableCascadeCombinedPipeline", "Stable Cascade"},
      {"KandinskyV22Pipeline", "Kandinsky 2.2"},
  };
  for (auto [name, what] : kKnown)
    if (cls == name) return what;
  return nullptr;
}

// "unet (UNet2DConditionModel), vae (AutoencoderKL), ..." from model_index.json.
std::string components(const Config& index) {
  std::string out;
  for (const auto& [name, v] : index.json().items())
    if (v.is_array() && v.size() == 2 && v[1].is_string())
      out += (out.empty() ? "" : ", ") + name + " (" + v[1].get<std::string>() + ")";
  return out;
}

// What a UNet with `in` input channels is for, when it is not the latent width.
std::string channel_use(int in) {
  switch (in) {
    case 9:
      return "an inpainting UNet (latents, mask and masked-image latents)";
    case 8:
      return "an InstructPix2Pix UNet (latents and image latents)";
    case 5:
      return "a depth-to-image UNet (latents and a depth map)";
    case 7:
      return "an upscaler UNet (latents and the low-resolution image)";
  }
  return "not a text-to-image UNet";
}

}  // namespace

ModelFamily detect_family(const ModelSource& src) {
  ModelFamily f;
  f.pipeline_class = src.pipeline_class();
  const Config index = src.pipeline_config();
  if (f.pipeline_class == "StableDiffusionXLPipeline") {
    f.kind = PipelineKind::kStableDiffusionXL;
  } else if (f.pipeline_class != "StableDiffusionPipeline" && f.pipeline_class != "StableDiffusionInpaintPipeline" &&
             f.pipeline_class != "LatentConsistencyModelPipeline") {
    const char* what = known_pipeline(f.pipeline_class);
    const std::string found = components(index);
    index.unsupported("_class_name",
                      "is " + f.pipeline_class + (what ? std::string(": ") + what : std::string()) +
                          (found.empty() ? "" : " (components: " + found + ")") + "; " + kSupported);
  }
  std::vector<std::string> needed{"text_encoder", "tokenizer", "unet", "vae", "scheduler"};
  if (f.kind == PipelineKind::kStableDiffusionXL)
    needed.insert(needed.end(), {"text_encoder_2", "tokenizer_2"});
  for (const auto& c : needed)
    if (!src.has_component(c))
      throw Error(ErrorCode::kCorruptFile,
                  src.path() + ": the " + f.pipeline_class + " has no " + c + " component");

  const Config unet = src.config("unet");
  const int latent = src.config("vae").get_int("latent_channels", 4);
  // Latents in, or latents + mask + masked-image latents (inpainting, whatever the folder's class says: single
  // files have none); noise predictions of the latents' width out.
  f.inpainting = unet.get_int("in_channels", 4) == 2 * latent + 1 && f.kind == PipelineKind::kStableDiffusion;
  if (f.pipeline_class == "StableDiffusionInpaintPipeline" && !f.inpainting)
    unet.unsupported("in_channels", "is " + std::to_string(unet.get_int("in_channels", 4)) +
                                        "; StableDiffusionInpaintPipeline needs an inpainting UNet (" +
                                        std::to_string(2 * latent + 1) + " input channels)");
  for (const char* key : {"in_channels", "out_channels"}) {
    const int channels = unet.get_int(key, 4);
    if (channels != latent && !(f.inpainting && key[0] == 'i'))
      unet.unsupported(
          key, "is " + std::to_string(channels) + ": " +
                   (key[0] == 'i' ? channel_use(channels) : std::string("not a noise-predicting UNet")) +
                   "; text-to-image needs the VAE's latent_channels (" + std::to_string(latent) + ")" +
                   (key[0] == 'i' ? " and inpainting " + std::to_string(2 * latent + 1) : std::string()));
  }
  const std::string added = unet.get_string("addition_embed_type", "");
  if (f.kind == PipelineKind::kStableDiffusionXL && added != "text_time")
    unet.unsupported("addition_embed_type",
                     "is " + (added.empty() ? std::string("null") : "\"" + added + "\"") +
                         "; StableDiffusionXLPipeline needs an SDXL UNet (\"text_time\")");
  if (f.kind == PipelineKind::kStableDiffusion && added == "text_time")
    unet.unsupported("addition_embed_type", "is \"text_time\" (an SDXL UNet), but the pipeline is " +
                                                f.pipeline_class +
                                                "; SDXL folders name StableDiffusionXLPipeline");
  f.guidance_embedding = unet.has("time_cond_proj_dim");
  if (f.pipeline_class == "LatentConsistencyModelPipeline" && !f.guidance_embedding)
    unet.unsupported("time_cond_proj_dim",
                     "is missing; LatentConsistencyModelPipeline needs an LCM-distilled UNet "
                     "that embeds the guidance scale");

  if (f.kind == PipelineKind::kStableDiffusionXL) {
    f.name = "sdxl";
    f.description = "Stable Diffusion XL";
  } else if (src.config("text_encoder").get_string("hidden_act", "quick_gelu") == "gelu") {
    f.name = "sd2";
    f.description = "Stable Diffusion 2.x";
  } else {
    f.name = "sd1";
    f.description = "Stable Diffusion 1.x";
  }
  if (f.inpainting) {
    f.name += "-inpaint";
    f.description += ", inpainting: repaints the masked part of an image";
  }
  if (f.guidance_embedding) {
    f.name += "-lcm";
    f.description += ", latent-consistency distilled: guidance as an embedding, no unconditional pass";
  }
  return f;
}

}  // namespace websd
