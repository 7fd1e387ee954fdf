// `websd convert`: writes the web pack of a model (manifest + shards of at most 128 MiB with sha256s) and prints
// each component's size before and after.
#include "apps/convert.h"

#include <CLI/CLI.hpp>
#include <cstdio>

#include "io/model_source.h"
#include "io/pack_writer.h"

namespace websd {
namespace {

struct ConvertOptions {
  std::string input, output, dtype = "f16";
  ModelSourceOptions source;
  bool verify = false;
};

double mib(uint64_t b) { return double(b) / (1 << 20); }

int run_convert(const ConvertOptions& o) {
  PackDType dtype;
  parse_pack_dtype(o.dtype, &dtype);
  auto source = open_model_source(o.input, o.source);
  std::printf("converting %s (%s) to a %s pack in %s\n", o.input.c_str(), source->pipeline_class().c_str(),
              o.dtype.c_str(), o.output.c_str());
  PackReport r = write_pack(*source, o.output, dtype, [](int i, uint64_t bytes) {
    std::printf("  shard %d: %.1f MiB\n", i, mib(bytes));
    std::fflush(stdout);
  });
  std::printf("  %-16s %10s %10s %8s\n", "component", "before", "after", "tensors");
  for (const auto& [name, c] : r.components) {
    std::printf("  %-16s %8.1f MiB %6.1f MiB %6d", name.c_str(), mib(c.source_bytes), mib(c.pack_bytes), c.tensors);
    if (c.quantized) std::printf("  (%d quantized to int8)", c.quantized);
    std::printf("\n");
  }
  std::printf("  %d shards, %.1f MiB in all\n", r.shards, mib(r.total_bytes));
  if (o.verify) {
    verify_pack(o.output);
    std::printf("  verified: every shard matches its sha256\n");
  }
  return 0;
}

}  // namespace

void add_convert_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<ConvertOptions>();
  CLI::App* cmd = app.add_subcommand("convert", "Convert a model to the web pack the browser app loads");
  cmd->add_option("input", o->input, "Diffusers folder, single-file .safetensors, or pack")->required();
  cmd->add_option("-o,--output", o->output, "Output folder for manifest.json and the shards")->required();
  cmd->add_option("--dtype", o->dtype, "Weight storage: f16 (default), f32, or q8 (int8 matmul/conv weights)")
      ->check(CLI::IsMember({"f32", "f16", "q8"}))
      ->capture_default_str();
  cmd->add_option("--tokenizer", o->source.tokenizer_dir, "Tokenizer folder for single-file checkpoints");
  cmd->add_flag("--verify", o->verify, "Re-read the written pack and check every sha256");
  cmd->callback([o, &exit_code] { exit_code = run_convert(*o); });
}

}  // namespace websd
