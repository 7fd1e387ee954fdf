// A libFuzzer target's bounded smoke without libFuzzer: the gcc test build links each target with this driver
// (ctest `FuzzSmoke.*`), which runs it over its seed corpus and a fixed number of seeded mutations of it (bit
// flips, byte changes, inserts, deletions, truncations, splices of two seeds). It catches crashes and escaping
// exceptions in CI at no extra build; scripts/fuzz.sh is the real, coverage-guided run with the sanitizers.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR [MUTATIONS]\n", argv[0]);
    return 2;
  }
  const long mutations = argc > 2 ? std::stol(argv[2]) : 2000;
  std::vector<std::vector<uint8_t>> seeds;
  for (const auto& e : std::filesystem::directory_iterator(argv[1])) {
    std::ifstream in(e.path(), std::ios::binary);
    seeds.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  if (seeds.empty()) {
    std::fprintf(stderr, "no seeds in %s\n", argv[1]);
    return 2;
  }
  for (const auto& s : seeds) LLVMFuzzerTestOneInput(s.data(), s.size());
  std::mt19937_64 rng(20261203);
  for (long i = 0; i < mutations; ++i) {
    std::vector<uint8_t> x = seeds[rng() % seeds.size()];
    for (int edits = 1 + int(rng() % 4); edits > 0; --edits) {
      const size_t at = x.empty() ? 0 : size_t(rng() % x.size());
      switch (rng() % 6) {
        case 0: if (!x.empty()) x[at] ^= uint8_t(1u << (rng() % 8)); break;
        case 1: if (!x.empty()) x[at] = uint8_t(rng()); break;
        case 2: x.insert(x.begin() + long(at), uint8_t(rng())); break;
        case 3: if (!x.empty()) x.erase(x.begin() + long(at)); break;
        case 4: x.resize(at); break;
        default: {  // a run of another seed's bytes
          const auto& o = seeds[rng() % seeds.size()];
          if (o.empty()) break;
          const size_t from = size_t(rng() % o.size()), n = std::min(o.size() - from, size_t(1 + rng() % 64));
          x.insert(x.begin() + long(at), o.begin() + long(from), o.begin() + long(from + n));
        }
      }
    }
    LLVMFuzzerTestOneInput(x.data(), x.size());
  }
  std::printf("%zu seeds and %ld mutations ran without a failure\n", seeds.size(), mutations);
  return 0;
}
