/* websd — Stable Diffusion on your own hardware. The whole public API in one C header.
 *
 * Usage:
 *   websd_model* model = NULL;
 *   websd_model_params mp = websd_model_params_default();
 *   if (websd_model_open("models/sd15", &mp, &model) != WEBSD_OK) {
 *     fprintf(stderr, "%s\n", websd_last_error());
 *     return 1;
 *   }
 *   websd_txt2img_params p = websd_txt2img_params_default();
 *   p.prompt = "a lighthouse at dusk, oil painting";
 *   p.seed = 42;
 *   websd_image image;
 *   if (websd_txt2img(model, &p, &image, 1) == WEBSD_OK) {
 *     // image.data: image.width * image.height * 3 bytes of RGB
 *     websd_image_free(&image);
 *   }
 *   websd_model_free(model);
 *
 * Every function reports failure through its status; the message of the last failure on the calling thread is
 * websd_last_error(). No C++ exception crosses this header.
 */
#ifndef WEBSD_WEBSD_H
#define WEBSD_WEBSD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum websd_status {
  WEBSD_OK = 0,
  WEBSD_ERROR_INVALID_ARGUMENT = 1, /* a parameter is out of range (size not a multiple of 8, unknown scheduler) */
  WEBSD_ERROR_NOT_FOUND = 2,        /* a file or folder does not exist */
  WEBSD_ERROR_CORRUPT_FILE = 3,     /* a file is malformed or truncated */
  WEBSD_ERROR_UNSUPPORTED = 4,      /* a valid model this engine does not implement */
  WEBSD_ERROR_SHAPE_MISMATCH = 5,   /* a tensor does not fit the architecture its config describes */
  WEBSD_ERROR_OUT_OF_MEMORY = 6,
  WEBSD_ERROR_CANCELLED = 7,        /* stopped by websd_cancel() or a callback */
  WEBSD_ERROR_DEVICE_LOST = 8,      /* the GPU went away; open the model again */
  WEBSD_ERROR_INTERNAL = 9,
} websd_status;

/* A short name for a status ("not found"). */
const char* websd_status_string(websd_status status);
/* What went wrong in the last failed call on this thread, for people ("…/unet/config.json: …"). */
const char* websd_last_error(void);

typedef struct websd_model websd_model;

typedef struct websd_model_params {
  const char* backend; /* "cpu" (default); "webgpu" in the WebAssembly build (the GPU of the JS host) */
  int threads;         /* cpu worker threads; 0 = all cores */
} websd_model_params;

websd_model_params websd_model_params_default(void);

/* Opens a diffusers pipeline folder (StableDiffusionPipeline, StableDiffusionXLPipeline or
 * LatentConsistencyModelPipeline) or a single-file checkpoint. A model family websd does not run is
 * WEBSD_ERROR_UNSUPPORTED with a message naming what was found. On success *out owns the model; free it with
 * websd_model_free. */
websd_status websd_model_open(const char* path, const websd_model_params* params, websd_model** out);
void websd_model_free(websd_model* model);

/* The model's native image size and default scheduler name. */
int websd_model_native_width(const websd_model* model);
int websd_model_native_height(const websd_model* model);
const char* websd_model_default_scheduler(const websd_model* model);
/* The model family: "sd1", "sd2" or "sdxl", with "-lcm" appended for latent-consistency distilled models (their
 * UNet embeds the guidance scale, so guidance never adds an unconditional pass). */
const char* websd_model_family(const websd_model* model);

/* Called after every denoising iteration; return 0 to cancel, non-zero to go on. */
typedef int (*websd_progress_fn)(void* user, int image, int step, int steps);
/* Called every preview_every iterations with the image so far (width x height x 3): decoded at full size by the
   preview_decoder when there is one, else a cheap latent-to-RGB map at latent resolution (1/8 size). */
typedef void (*websd_preview_fn)(void* user, int image, int step, const uint8_t* rgb, int width, int height);

/* A LoRA to merge into the model for one call: a .safetensors file (kohya/A1111 or diffusers naming) and its
   strength (1 = as trained). */
typedef struct websd_lora {
  const char* path;
  float scale;
} websd_lora;

/* A textual inversion embedding for one call: a .safetensors file (A1111, diffusers or SDXL layout) and the word
   that stands for it in the prompts (NULL or "" = the file's stem). */
typedef struct websd_embedding {
  const char* path;
  const char* word;
} websd_embedding;

/* A ControlNet for one call (diffusers' StableDiffusionControlNetPipeline; several at once add up): it guides the
   composition by a control image. Start from websd_controlnet_default(). */
typedef struct websd_controlnet {
  const char* path;                 /* a ControlNet folder, .safetensors (diffusers' or the original naming) or pack */
  const struct websd_image* image;  /* 8-bit RGB (channels 3), any size: fitted to the image's (resize) */
  float scale;                      /* how strongly it guides, [0, 10]; default 1 */
  double start, end;                /* the fractions of the steps it acts on, 0 <= start < end <= 1; default 0, 1 */
  const char* preprocessor;         /* "none" (NULL: the image is the map) or "canny" (its edges, as OpenCV) */
  double canny_low, canny_high;     /* Canny's thresholds; default 100, 200 */
  int invert;                       /* non-zero: 1 - the map (for maps drawn dark on light) */
  const char* resize;               /* another shape: "crop" (NULL: scale to cover, keep the middle) or "stretch" */
} websd_controlnet;

websd_controlnet websd_controlnet_default(void);

/* The map the ControlNet reads for `control` at width x height: its image fitted and preprocessed, 8-bit RGB, to
   show before generating. Free with websd_image_free. */
websd_status websd_control_map(const websd_controlnet* control, int width, int height, struct websd_image* out);

typedef struct websd_txt2img_params {
  const char* prompt;          /* UTF-8; NULL = "" */
  const char* negative_prompt; /* UTF-8; NULL = "". SDXL: empty gives all-zero unconditional embeddings
                                  (diffusers' force_zeros_for_empty_prompt); LCM models take none */
  int width, height;           /* multiples of 8; 0 = the model's native size */
  int steps;                   /* default 20 */
  float guidance;              /* classifier-free guidance scale, default 7.5; <= 1 skips the unconditional pass
                                  (LCM models embed it instead and never run that pass) */
  uint64_t seed;               /* image i of a batch uses seed + i */
  const char* scheduler;       /* pndm, ddim, euler, euler_a, euler_karras, dpmpp_2m, dpmpp_2m_karras, heun, unipc,
                                  lcm; NULL = the model's own */
  const char* scheduler_config; /* JSON object of scheduler config values that override the model's, as
                                   diffusers' from_config(config, **overrides): e.g. SD-Turbo style sampling is
                                   scheduler "euler_a" with {"timestep_spacing": "trailing"} and guidance 0.
                                   NULL = none. A key the sampler does not read is WEBSD_ERROR_INVALID_ARGUMENT. */
  websd_progress_fn progress;
  void* progress_user;
  int preview_every; /* 0 = no previews */
  websd_preview_fn preview;
  void* preview_user;
  /* img2img (diffusers' StableDiffusionImg2ImgPipeline): the image to start from, 8-bit RGB (channels 3); NULL =
     text to image. The size defaults to its size and must equal it when given. strength in (0, 1], 0 = the
     pipeline's default (0.8; 1 for inpainting): the last int(steps * strength) steps run, from the image's
     latents noised to that point. */
  const struct websd_image* init_image;
  float strength;
  /* Inpainting (any model; with an inpainting model, websd_model_family ending in "-inpaint", the UNet sees the mask,
     with any other the kept region is put back after every step): which pixels of init_image to repaint, an
     image of its size with channels 1 (grey) or 3 (RGB, its luminance counts); white (>= 128) = repaint. */
  const struct websd_image* mask;
  /* LoRAs for this call (lora_count of them), besides the prompt's <lora:NAME:SCALE> tags, which name
     NAME.safetensors in lora_dir (NULL: a tag is WEBSD_ERROR_INVALID_ARGUMENT). The same set as the previous
     call reuses its merged weights; weights no LoRA touches are never re-read or re-uploaded. */
  const websd_lora* loras;
  int lora_count;
  const char* lora_dir;
  /* Textual inversion embeddings (embedding_count of them): each word in the prompt or the negative prompt stands
     for its file's vectors; every NAME.safetensors in embedding_dir (NULL = none) whose NAME either prompt holds
     is used too. */
  const websd_embedding* embeddings;
  int embedding_count;
  const char* embedding_dir;
  /* Prompts are read as the widely used web UI reads them (README "Prompts"): (word:1.3), (word) and [word] weigh
     words, BREAK ends a chunk, and any length is encoded in chunks of 75 tokens. Non-zero: read them as diffusers
     does instead (brackets are text, tokens after the 75th cut). */
  int literal_prompt;
  /* TAESD folders (AutoencoderTiny as diffusers saves it; taesd for SD 1.x/2.x, taesdxl for SDXL), NULL = none:
     vae_decoder draws the final images instead of the model's VAE (many times faster, a little less detail);
     preview_decoder draws the previews at full size instead of the latent-to-RGB map at 1/8 size. */
  const char* vae_decoder;
  const char* preview_decoder;
  /* Hires fix (two passes, as the widely used web UI makes them): hires_scale > 1 generates at width x height,
     upscales by hires_scale (sides rounded down to multiples of 8, at most 4x) and denoises again over the last
     int(hires_steps * hires_strength) of hires_steps steps (0 = steps). hires_upscaler: "latent" (NULL, the web UI's
     default: the latents resized bilinearly) or "image" (the decoded picture resized and encoded again).
     hires_strength 0 keeps the upscaled first pass. Defaults: 1 (off), 0.7, 0, NULL. */
  float hires_scale;
  float hires_strength;
  int hires_steps;
  const char* hires_upscaler;
  /* How LoRAs are applied: "merged" (NULL, the default: merged into the weights, steps as fast as without a
     LoRA; on WebGPU merged on the GPU, a second copy of each adapted weight) or "runtime" (the model's weights
     untouched, each adapted layer also computes up·(down·x): no copies, slower steps). docs/lora.md. */
  const char* lora_mode;
  /* ControlNets (controlnet_count of them) guiding this call; not with inpainting models. */
  const websd_controlnet* controlnets;
  int controlnet_count;
} websd_txt2img_params;

websd_txt2img_params websd_txt2img_params_default(void);

typedef struct websd_image {
  int width, height, channels; /* channels = 3 (RGB) */
  uint8_t* data;               /* width * height * channels bytes, row-major */
} websd_image;

/* Generates `count` images into images[0..count). On failure no image needs freeing. Calls on one model from several
 * threads at once are queued: each runs whole, one after the other (websd_prompt_info waits for them too). Refused up front with
 * WEBSD_ERROR_INVALID_ARGUMENT: sides over 4096 pixels or more than 2048x2048 pixels in all, steps outside 1..1000,
 * more than 1000 images, prompts over 64 KiB (docs/limits.md); with WEBSD_ERROR_OUT_OF_MEMORY when the planned
 * working memory exceeds what the backend can hold. */
websd_status websd_txt2img(websd_model* model, const websd_txt2img_params* params, websd_image* images, int count);
void websd_image_free(websd_image* image);

/* The "parameters" PNG text of image `image` of a websd_txt2img call with `params` (the widely used web UI's format:
 * prompt, negative prompt, steps, sampler, guidance, seed + image, size, model_name, and every option used), as the
 * websd tool writes it. On success *out is a NUL-terminated UTF-8 string to free with websd_string_free. */
websd_status websd_parameters_text(websd_model* model, const websd_txt2img_params* params, int image,
                                   const char* model_name, char** out);
void websd_string_free(char* text);

/* How the engine reads a prompt, for an editor that highlights weights and counts tokens as one types. *out is a
 * JSON object (free it with websd_string_free):
 *   {"tokens": [n, ...], "chunk_size": 75, "max_chunks": 16, "spans": [[begin, end, weight, is_break], ...]}
 * tokens: the tokens of each chunk of chunk_size the first text encoder gets (literal: one count of the whole
 * prompt, of which the encoder reads chunk_size); more than max_chunks chunks is refused by websd_txt2img.
 * spans: UTF-8 byte ranges [begin, end) of the prompt and their weight (brackets and weight syntax lie between
 * spans; is_break 1 marks a BREAK); literal: one span of weight 1 over the prompt. */
websd_status websd_prompt_info(websd_model* model, const char* prompt, int literal, char** out);

/* Thread-safe: makes a running websd_txt2img on this model return WEBSD_ERROR_CANCELLED soon; one called while no
 * run is active cancels the next run (a cancel sent just before a run starts is not lost). */
void websd_cancel(websd_model* model);

#ifdef __cplusplus
}
#endif

#endif /* WEBSD_WEBSD_H */
