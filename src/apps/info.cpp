// `websd info`: loads every network of a pipeline folder (which validates configs and tensor shapes) and prints
// what it found: architecture, parameter counts, storage types, and the activation memory the planner needs.
#include "apps/info.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <map>

#include "core/memory_plan.h"
#include "io/model_source.h"
#include "io/pipeline_folder.h"
#include "models/clip_text_encoder.h"
#include "models/unet.h"
#include "models/vae.h"
#include "pipeline/family.h"

namespace websd {
namespace {

std::string join(const std::vector<int>& v) {
  std::string s;
  for (int x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
  return s;
}

void print_weights(const Graph& g) {
  std::map<std::string, int64_t> by_dtype;
  int64_t params = 0;
  for (const auto& w : g.weights()) {
    by_dtype[dtype_name(w.dtype)] += w.shape.numel();
    params += w.shape.numel();
  }
  std::string types;
  for (const auto& [t, n] : by_dtype) types += (types.empty() ? "" : ", ") + t;
  std::printf("    parameters  %.1f M (%s), %.1f MiB\n", double(params) / 1e6, types.c_str(),
              double(g.weight_bytes()) / (1 << 20));
}

size_t planned_arena(std::shared_ptr<const Graph> g) {
  return plan_memory(*g, [](const Node&) { return size_t(0); }).arena_bytes;
}

int run_info(const std::string& dir) {
  auto source = open_model_source(dir);  // a folder, a pack or a single file
  const ModelSource& p = *source;
  std::printf("%s: %s\n", dir.c_str(), p.pipeline_class().c_str());
  const ModelFamily family = detect_family(p);  // an unsupported family ends here
  std::printf("  family        %s (%s)\n", family.name.c_str(), family.description.c_str());
  for (const char* name : {"text_encoder", "text_encoder_2"}) {
    if (!p.has_component(name)) continue;
    auto cfg = ClipTextConfig::from(p.config(name));
    auto w = p.weights(name);
    auto net = build_clip_text_encoder(cfg, *w, 1);
    std::printf("  %-13s CLIP, %d layers, hidden %d, %d heads, %s%s\n", name, cfg.num_layers, cfg.hidden_size,
                cfg.num_heads, cfg.act.c_str(),
                cfg.projection_dim > 0 ? (", projection " + std::to_string(cfg.projection_dim)).c_str() : "");
    print_weights(*net.graph);
  }
  int latent = 64;
  if (p.has_component("unet")) {
    const Config c = p.config("unet");
    auto cfg = UNetConfig::from(c);
    latent = c.get_int("sample_size", 64);
    auto w = p.weights("unet");
    auto net = build_unet(cfg, *w, 2, latent, latent);
    std::printf("  unet          channels %s, heads %s, transformer layers %s, cross-attention %d, %s projections\n",
                join(cfg.block_out_channels).c_str(), join(cfg.heads).c_str(), join(cfg.transformer_layers).c_str(),
                cfg.cross_attention_dim, cfg.use_linear_projection ? "linear" : "conv");
    if (cfg.text_time)
      std::printf("    added conditioning text_time (%d = pooled text + 6 x %d time ids)\n",
                  cfg.projection_class_embeddings_input_dim, cfg.addition_time_embed_dim);
    if (cfg.time_cond_proj_dim > 0) std::printf("    guidance embedding of width %d\n", cfg.time_cond_proj_dim);
    print_weights(*net.graph);
    std::printf("    activations %.1f MiB planned at %dx%d latents, batch 2\n",
                double(planned_arena(net.graph)) / (1 << 20), latent, latent);
  }
  if (p.has_component("vae")) {
    auto cfg = VaeConfig::from(p.config("vae"));
    auto w = p.weights("vae");
    auto dec = build_vae_decoder(cfg, *w, 1, latent, latent);
    auto enc = build_vae_encoder(cfg, *w, 1, latent * cfg.downscale(), latent * cfg.downscale());
    std::printf("  vae           channels %s, scaling factor %g\n", join(cfg.block_out_channels).c_str(),
                cfg.scaling_factor);
    print_weights(*dec.graph);
    std::printf("    activations %.1f MiB planned for decoding %dx%d\n", double(planned_arena(dec.graph)) / (1 << 20),
                latent * cfg.downscale(), latent * cfg.downscale());
  }
  if (p.has_component("scheduler"))
    std::printf("  scheduler     %s\n", p.config("scheduler").get_string("_class_name", "?").c_str());
  return 0;
}

}  // namespace

void add_info_command(CLI::App& app, int& exit_code) {
  auto dir = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("info", "Print architecture, sizes and dtypes of a model folder");
  cmd->add_option("--model", *dir, "Diffusers pipeline folder")->required();
  cmd->callback([dir, &exit_code] { exit_code = run_info(*dir); });
}

}  // namespace websd
