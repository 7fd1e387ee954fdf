// The demo model (models/websd-shapes, trained by tools/demo-model) draws what its captions say: for captions whose
// colour x shape x position never appeared in training, the named colour dominates the named cell of the 3x3 grid
// and the named background dominates the border. The captions, seeds, palette and grid come from
// tools/demo-model/evaluation.json (written by vocabulary.py); train.py's score() is the same rule in Python.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "websd/websd.h"

namespace websd {
namespace {

const std::string kModel = std::string(WEBSD_SOURCE_DIR) + "/models/websd-shapes";

nlohmann::json evaluation() {
  std::ifstream f(std::string(WEBSD_SOURCE_DIR) + "/tools/demo-model/evaluation.json");
  return nlohmann::json::parse(f);
}

struct Score {
  bool colour = false, background = false;
};

// Each pixel takes the nearest palette colour; the named colour must be the commonest non-background colour in the
// named cell, and the background colour the commonest in a border 4 pixels wide.
Score score(const websd_image& img, const nlohmann::json& c, const nlohmann::json& spec) {
  std::vector<std::string> names;
  std::vector<std::array<int, 3>> palette;
  for (const auto& [name, rgb] : spec["palette"].items()) {
    names.push_back(name);
    palette.push_back({rgb[0].get<int>(), rgb[1].get<int>(), rgb[2].get<int>()});
  }
  auto index = [&](const std::string& n) { return int(std::find(names.begin(), names.end(), n) - names.begin()); };
  const int w = img.width, h = img.height;
  auto cls = [&](int x, int y) {
    const uint8_t* p = img.data + (size_t(y) * w + x) * 3;
    int best = 0, best_d = 1 << 30;
    for (size_t k = 0; k < palette.size(); ++k) {
      int d = 0;
      for (int ch = 0; ch < 3; ++ch) d += (p[ch] - palette[k][ch]) * (p[ch] - palette[k][ch]);
      if (d < best_d) best_d = d, best = int(k);
    }
    return best;
  };
  auto commonest = [](const std::vector<int>& counts) {
    return int(std::max_element(counts.begin(), counts.end()) - counts.begin());
  };
  const int bg = index(c["background"]);
  const int col = spec["grid"][c["position"].get<std::string>()][0], row = spec["grid"][c["position"].get<std::string>()][1];
  std::vector<int> fg(names.size()), border(names.size());
  int fg_total = 0;
  for (int y = row * h / 3; y < (row + 1) * h / 3; ++y)
    for (int x = col * w / 3; x < (col + 1) * w / 3; ++x)
      if (int k = cls(x, y); k != bg) ++fg[k], ++fg_total;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      if (y < 4 || y >= h - 4 || x < 4 || x >= w - 4) ++border[cls(x, y)];
  return {fg_total > 0 && commonest(fg) == index(c["colour"]), commonest(border) == bg};
}

// Generates every case of one kind with the model's own sampler and steps and the default guidance; returns the
// fractions that pass each check.
std::pair<double, double> rates(const std::string& kind) {
  const nlohmann::json spec = evaluation();
  websd_model* model = nullptr;
  EXPECT_EQ(websd_model_open(kModel.c_str(), nullptr, &model), WEBSD_OK) << websd_last_error();
  if (!model) return {0, 0};
  int colour = 0, background = 0, n = 0;
  for (const auto& c : spec[kind]) {
    const std::string caption = c["caption"];
    websd_txt2img_params p = websd_txt2img_params_default();
    p.prompt = caption.c_str();
    p.seed = c["seed"];
    websd_image img{};
    EXPECT_EQ(websd_txt2img(model, &p, &img, 1), WEBSD_OK) << websd_last_error();
    if (!img.data) continue;
    const Score s = score(img, c, spec);
    colour += s.colour, background += s.background, ++n;
    if (!s.colour || !s.background)
      std::printf("  miss%s%s: %s\n", s.colour ? "" : " colour", s.background ? "" : " background", caption.c_str());
    websd_image_free(&img);
  }
  websd_model_free(model);
  std::printf("%s captions: colour in cell %d/%d, background %d/%d\n", kind.c_str(), colour, n, background, n);
  return {double(colour) / std::max(n, 1), double(background) / std::max(n, 1)};
}

TEST(DemoModel, HeldOutCaptionsDrawTheNamedColourWhereAndOnWhatTheySay) {
  const auto [colour, background] = rates("held_out");
  EXPECT_GE(colour, 0.80);
  EXPECT_GE(background, 0.90);
}

TEST(DemoModel, TrainingCaptionsDrawWhatTheySay) {
  const auto [colour, background] = rates("training");
  EXPECT_GE(colour, 0.80);
  EXPECT_GE(background, 0.90);
}

TEST(DemoModel, ShipsWithinItsSizeBudget) {
  // The whole diffusers folder, tokenizer included, at most 16 MB (16,000,000 bytes).
  uintmax_t total = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(kModel))
    if (e.is_regular_file()) total += e.file_size();
  EXPECT_LE(total, 16'000'000u);
}

}  // namespace
}  // namespace websd
