// `websd generate`: one or more images from a prompt, with a progress bar on terminals and PNGs that record how
// they were made (the "parameters" text chunk that popular Stable Diffusion tools read and write).
#include "apps/generate.h"

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <unistd.h>

#include "apps/png_io.h"
#include "core/error.h"
#include "backends/cpu/cpu_backend.h"
#include "pipeline/parameters_text.h"
#include "pipeline/stable_diffusion.h"
#include "pipeline/limits.h"
#include "schedulers/scheduler.h"

namespace websd {
namespace {

struct GenerateOptions {
  std::string model, output = "websd.png";
  std::string init_image;  // img2img: a PNG to start from
  std::string mask;        // inpainting: a PNG of the same size, white = repaint
  std::string preview;     // a PNG rewritten with the image so far every preview_every steps
  int preview_every = 1;
  ModelSourceOptions source;
  GenerateParams params;
  // ControlNets: --controlnet repeated; every other control option given once (for all) or once per ControlNet.
  struct {
    std::vector<std::string> nets, images, preprocessors, resizes;
    std::vector<float> scales;
    std::vector<double> starts, ends, lows, highs;
    bool invert = false;
    std::string map_out;  // the prepared control maps, written before generating
  } control;
  bool seed_given = false;
  int threads = 0;
  std::string sgemm = "auto";
  bool quiet = false;
};

// KEY=VALUE, VALUE read as JSON where it parses (true, 1.5, null) and as a string otherwise.
void add_scheduler_option(GenerateParams& p, const std::string& option) {
  const size_t eq = option.find('=');
  if (eq == 0 || eq == std::string::npos)
    throw CLI::ValidationError("--scheduler-option", "expects KEY=VALUE, got '" + option + "'");
  const std::string value = option.substr(eq + 1);
  nlohmann::json v = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
  p.scheduler_overrides[option.substr(0, eq)] = v.is_discarded() ? nlohmann::json(value) : v;
}

std::string output_path(const std::string& output, int index, int count) {
  if (count == 1) return output;
  std::filesystem::path p(output);
  return (p.parent_path() / (p.stem().string() + "-" + std::to_string(index + 1) + p.extension().string())).string();
}

class ProgressBar {
 public:
  explicit ProgressBar(bool enabled) : enabled_(enabled) {}
  void update(int image, int images, int step, int steps) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (step == 1) start_ = now;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double rate = step > 1 ? (step - 1) / elapsed : 0;  // the first step includes setup
    const double eta = rate > 0 ? (steps - step) / rate : 0;
    constexpr int kWidth = 30;
    const int filled = step * kWidth / steps;
    std::fprintf(stderr, "\r%s[%.*s%*s] %d/%d  %.2f it/s  ETA %d:%02d ", images > 1 ? image_label(image, images).c_str() : "",
                 filled, "##############################", kWidth - filled, "", step, steps, rate, int(eta) / 60,
                 int(eta) % 60);
    if (step == steps) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  }

 private:
  static std::string image_label(int image, int images) {
    return "image " + std::to_string(image + 1) + "/" + std::to_string(images) + " ";
  }
  bool enabled_;
  std::chrono::steady_clock::time_point start_;
};

// Value k of a control option: its only value, the k-th of one per ControlNet, or the default.
template <typename T>
T nth(const std::vector<T>& v, size_t k, size_t nets, T fallback, const char* flag) {
  if (v.empty()) return fallback;
  if (v.size() == 1) return v[0];
  if (v.size() != nets)
    throw Error(ErrorCode::kInvalidArgument, std::string(flag) + " is given " + std::to_string(v.size()) +
                                                 " times for " + std::to_string(nets) +
                                                 " ControlNets: give it once (for all) or once per --controlnet");
  return v[k];
}

// The ControlNet requests of the command line, their control images read.
void add_controls(GenerateOptions& o) {
  const auto& c = o.control;
  const size_t n = c.nets.size();
  if (!n && (c.images.size() || c.scales.size() || c.starts.size() || c.ends.size() || c.preprocessors.size()))
    throw Error(ErrorCode::kInvalidArgument, "control options need a --controlnet");
  if (n && c.images.empty())
    throw Error(ErrorCode::kInvalidArgument, "--controlnet needs a --control-image (a PNG: an edge map, a pose, a "
                                             "depth picture, or a photo with --control-preprocessor canny)");
  for (size_t k = 0; k < n; ++k) {
    ControlRequest r;
    r.path = c.nets[k];
    r.image = to_float(read_png(nth(c.images, k, n, std::string(), "--control-image")));
    r.scale = nth(c.scales, k, n, 1.0f, "--control-scale");
    r.start = nth(c.starts, k, n, 0.0, "--control-start");
    r.end = nth(c.ends, k, n, 1.0, "--control-end");
    parse_control_preprocessor(nth(c.preprocessors, k, n, std::string("none"), "--control-preprocessor"),
                               &r.options.preprocessor);
    parse_control_resize(nth(c.resizes, k, n, std::string("crop"), "--control-resize"), &r.options.resize);
    r.options.canny_low = nth(c.lows, k, n, 100.0, "--canny-low");
    r.options.canny_high = nth(c.highs, k, n, 200.0, "--canny-high");
    r.options.invert = c.invert;
    o.params.controls.push_back(std::move(r));
  }
}

int run_generate(GenerateOptions& o) {
  if (!o.seed_given) o.params.seed = std::random_device{}() | (uint64_t(std::random_device{}()) << 32);
  CpuOptions cpu;
  cpu.threads = o.threads;
  cpu.sgemm = cpu::parse_sgemm_request(o.sgemm);
  if (!o.init_image.empty()) o.params.init_image = to_float(read_png(o.init_image));
  if (!o.mask.empty()) {
    const RgbImage mask = read_png(o.mask);
    if (mask.width != o.params.init_image.width || mask.height != o.params.init_image.height)
      throw Error(ErrorCode::kInvalidArgument, o.mask + ": the mask is " + std::to_string(mask.width) + "x" +
                                                   std::to_string(mask.height) + ", the init image " +
                                                   std::to_string(o.params.init_image.width) + "x" +
                                                   std::to_string(o.params.init_image.height) + ": they must match");
    o.params.mask = mask_values(mask.pixels.data(), mask.width, mask.height, 3);
  }
  add_controls(o);
  auto sd = StableDiffusion::open(o.model, make_cpu_backend(cpu), o.source);
  const std::string scheduler = o.params.scheduler.empty() ? sd->info().default_scheduler : o.params.scheduler;
  const bool img2img = !o.params.init_image.empty();
  const int w = o.params.width ? o.params.width : img2img ? o.params.init_image.width : sd->info().native_width;
  const int h = o.params.height ? o.params.height : img2img ? o.params.init_image.height : sd->info().native_height;
  for (size_t k = 0; k < o.params.controls.size(); ++k) {
    const ControlRequest& r = o.params.controls[k];
    if (!o.quiet && int64_t(r.image.width) * h != int64_t(r.image.height) * w)
      std::fprintf(stderr, "note: the control image is %dx%d, another shape than %dx%d: %s to fit\n", r.image.width,
                   r.image.height, w, h, r.options.resize == ControlResize::kCrop ? "scaled and cropped" : "stretched");
    if (!o.control.map_out.empty()) {
      const FloatImage map = prepare_control_image(r.image, w, h, r.options);
      RgbImage out{w, h, std::vector<uint8_t>(map.rgb.size())};
      for (size_t i = 0; i < map.rgb.size(); ++i) out.pixels[i] = uint8_t(std::lround(map.rgb[i] * 255.0f));
      const std::string path = output_path(o.control.map_out, int(k), int(o.params.controls.size()));
      write_png(path, out, {{"Software", "websd"}});
      if (!o.quiet) std::printf("%s  (control map)\n", path.c_str());
    }
  }
  ProgressBar bar(!o.quiet && isatty(fileno(stderr)));
  GenerateCallbacks cb;
  cb.on_progress = [&](int image, int step, int steps) {
    bar.update(image, o.params.batch_count, step, steps);
    return true;
  };
  if (!o.preview.empty()) {
    cb.preview_every = o.preview_every;
    cb.on_preview = [&](int, int, const RgbImage& img) { write_png(o.preview, img, {{"Software", "websd"}}); };
  }
  auto images = sd->generate(o.params, cb);
  const std::string model_name = std::filesystem::path(o.model).filename().string();
  for (int i = 0; i < int(images.size()); ++i) {
    const uint64_t seed = o.params.seed + uint64_t(i);
    const std::string path = output_path(o.output, i, int(images.size()));
    write_png(path, images[size_t(i)],
              {{"parameters", parameters_text(o.params, {scheduler, seed, w, h, model_name})}, {"Software", "websd"}});
    if (!o.quiet) std::printf("%s  (seed %llu)\n", path.c_str(), static_cast<unsigned long long>(seed));
  }
  return 0;
}

}  // namespace

void add_generate_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<GenerateOptions>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate images from a text prompt");
  cmd->add_option("--model", o->model, "Diffusers pipeline folder, or a single-file .safetensors checkpoint")
      ->required();
  cmd->add_option("--tokenizer", o->source.tokenizer_dir,
                  "Tokenizer folder for single-file checkpoints (default: tokenizer/ next to the file)");
  cmd->add_option("-p,--prompt", o->params.prompt,
                  "What to draw: (word:1.3), (word), [word] weigh words, BREAK starts a chunk, any length (README)")
      ->required();
  cmd->add_option("-n,--negative-prompt", o->params.negative_prompt, "What to avoid (read as the prompt is)");
  cmd->add_flag("--literal-prompt", o->params.literal_prompt,
                "Read the prompts as diffusers does: brackets are text, tokens after the 75th are cut");
  cmd->add_option("--steps", o->params.steps, "Denoising steps")->check(CLI::Range(1, limits::kMaxSteps))->capture_default_str();
  cmd->add_option("--guidance", o->params.guidance, "Classifier-free guidance scale; <= 1 turns it off")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  cmd->add_option_function<uint64_t>(
         "--seed",
         [o](const uint64_t& s) {
           o->params.seed = s;
           o->seed_given = true;
         },
         "Random seed (default: a random one, printed)");
  std::string names;
  for (const auto& n : scheduler_names()) names += (names.empty() ? "" : ", ") + n;
  cmd->add_option("--scheduler", o->params.scheduler, "Sampler: " + names + " (default: the model's own)")
      ->check(CLI::IsMember(scheduler_names()));
  cmd->add_option_function<std::string>(
         "--timestep-spacing",
         [o](const std::string& v) { o->params.scheduler_overrides["timestep_spacing"] = v; },
         "Override the scheduler's timestep_spacing (trailing for SD-Turbo / SDXL-Turbo style 1-4 step sampling)")
      ->check(CLI::IsMember({"linspace", "leading", "trailing"}));
  cmd->add_option_function<std::vector<std::string>>(
         "--scheduler-option",
         [o](const std::vector<std::string>& v) {
           for (const auto& kv : v) add_scheduler_option(o->params, kv);
         },
         "Override a scheduler config value, KEY=VALUE (repeatable), e.g. use_karras_sigmas=true");
  cmd->add_option("-W,--width", o->params.width, "Image width, a multiple of 8 (default: the model's native size)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("-H,--height", o->params.height, "Image height, a multiple of 8 (default: the model's native size)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--init-image", o->init_image,
                  "img2img: a PNG to start from (the size defaults to its size; alpha is dropped)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--strength", o->params.strength,
                  "img2img: how much of the schedule runs over the init image, (0, 1]; the last "
                  "int(steps * strength) steps run (default 0.8; 1 for inpainting)")
      ->check(CLI::Range(0.0f, 1.0f));
  cmd->add_option("--mask", o->mask,
                  "inpainting: a PNG of the init image's size, white = repaint, black = keep (inpainting models, or "
                  "any model: the kept region is put back after every step)")
      ->check(CLI::ExistingFile)
      ->needs("--init-image");
  cmd->add_option_function<std::vector<std::string>>(
         "--lora",
         [o](const std::vector<std::string>& v) {
           for (const auto& arg : v) o->params.loras.push_back(parse_lora_argument(arg));
         },
         "A LoRA .safetensors to apply, FILE[:SCALE] (repeatable; kohya/A1111 or diffusers naming; SCALE "
         "default 1)");
  cmd->add_option("--lora-dir", o->params.lora_dir,
                  "Folder where the prompt's <lora:NAME:SCALE> tags find NAME.safetensors")
      ->check(CLI::ExistingDirectory);
  cmd->add_option_function<std::string>(
         "--lora-mode", [o](const std::string& v) { o->params.lora_mode = parse_lora_mode(v); },
         "merged (default: merged into the weights, steps as fast as without LoRA) or runtime (weights untouched, "
         "no second copy of them, slower steps)")
      ->check(CLI::IsMember({"merged", "runtime"}));
  cmd->add_option_function<std::vector<std::string>>(
         "--embedding",
         [o](const std::vector<std::string>& v) {
           for (const auto& arg : v) o->params.embeddings.push_back(parse_embedding_argument(arg));
         },
         "A textual inversion embedding .safetensors, FILE[:WORD] (repeatable): WORD in either prompt stands for "
         "it (default: the file's stem)");
  cmd->add_option("--embedding-dir", o->params.embedding_dir,
                  "Folder of embeddings: each NAME.safetensors whose NAME appears in a prompt is used")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--vae-decoder", o->params.vae_decoder,
                  "A TAESD folder (AutoencoderTiny, e.g. madebyollin/taesd; taesdxl for SDXL) that draws the final "
                  "images instead of the model's VAE: many times faster, a little less detail")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--preview", o->preview,
                  "A PNG rewritten with the image so far as it forms (latent colours at 1/8 size, or full size with "
                  "--preview-decoder)");
  cmd->add_option("--preview-every", o->preview_every, "Steps between previews")
      ->check(CLI::Range(1, limits::kMaxSteps))
      ->capture_default_str()
      ->needs("--preview");
  cmd->add_option("--preview-decoder", o->params.preview_decoder,
                  "A TAESD folder that draws the previews at full size")
      ->check(CLI::ExistingDirectory)
      ->needs("--preview");
  cmd->add_option("--hires-scale", o->params.hires_scale,
                  "Hires fix: generate at the size given, upscale by this factor (up to 4), then denoise again")
      ->check(CLI::Range(1.0f, 4.0f));
  cmd->add_option("--hires-strength", o->params.hires_strength,
                  "Hires fix: the share of --hires-steps run over the upscaled image, [0, 1] (0 keeps it as it is)")
      ->check(CLI::Range(0.0f, 1.0f))
      ->capture_default_str();
  cmd->add_option("--hires-steps", o->params.hires_steps, "Hires fix: steps of the second pass (default: --steps)")
      ->check(CLI::Range(1, limits::kMaxSteps));
  cmd->add_option("--hires-upscaler", o->params.hires_upscaler,
                  "Hires fix: latent (resize the latents, the web UI's default) or image (resize the decoded picture)")
      ->check(CLI::IsMember({"latent", "image"}))
      ->capture_default_str();
  cmd->add_option("--controlnet", o->control.nets,
                  "A ControlNet (diffusers folder, .safetensors in either naming, or web pack) guiding the "
                  "composition by --control-image (repeatable: their guidance adds up)");
  cmd->add_option("--control-image", o->control.images,
                  "The ControlNet's control image, a PNG: an edge map, a pose, a depth picture, or a photo to "
                  "preprocess (any size: fitted to the image's)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--control-scale", o->control.scales, "How strongly the ControlNet guides, [0, 10] (default 1)")
      ->check(CLI::Range(0.0f, 10.0f));
  cmd->add_option("--control-start", o->control.starts,
                  "The fraction of the steps after which the ControlNet starts guiding, [0, 1) (default 0)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--control-end", o->control.ends,
                  "The fraction of the steps after which it stops, (0, 1] (default 1)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--control-preprocessor", o->control.preprocessors,
                  "none (the picture is the map; default) or canny (its edges)")
      ->check(CLI::IsMember({"none", "canny"}));
  cmd->add_option("--canny-low", o->control.lows, "Canny: edges continue above this gradient (default 100)")
      ->check(CLI::Range(0.0, 10000.0));
  cmd->add_option("--canny-high", o->control.highs, "Canny: edges start above this gradient (default 200)")
      ->check(CLI::Range(0.0, 10000.0));
  cmd->add_flag("--control-invert", o->control.invert, "Invert the control maps (for maps drawn dark on light)");
  cmd->add_option("--control-resize", o->control.resizes,
                  "A control image of another shape: crop (scale to cover, keep the middle; default) or stretch")
      ->check(CLI::IsMember({"crop", "stretch"}));
  cmd->add_option("--control-map", o->control.map_out,
                  "Write the prepared control map(s) to this PNG before generating, to see what the ControlNet reads");
  cmd->add_option("--batch-count", o->params.batch_count, "Images to make; image i uses seed + i")
      ->check(CLI::Range(1, 1000));
  cmd->add_option("-o,--output", o->output, "Output PNG; several images get -1, -2, ... before the extension")
      ->capture_default_str();
  cmd->add_option("--threads", o->threads, "CPU worker threads (default: all cores)");
  cmd->add_option("--sgemm", o->sgemm,
                  "Matrix products: auto (the faster of the system BLAS and the portable kernel on this machine, "
                  "timed once and cached), portable or blas")
      ->check(CLI::IsMember({"auto", "portable", "blas"}));
  cmd->add_flag("-q,--quiet", o->quiet, "No progress bar, no file list");
  cmd->callback([o, &exit_code] {
    if (o->params.width % 8 || o->params.height % 8)
      throw CLI::ValidationError("--width/--height", "must be multiples of 8 (got " + std::to_string(o->params.width) +
                                                         "x" + std::to_string(o->params.height) + ")");
    exit_code = run_generate(*o);
  });
}

}  // namespace websd
