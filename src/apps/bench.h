#pragma once

namespace CLI {
class App;
}

namespace websd {
// Registers `websd bench`: SD 1.5 networks with synthesized weights, timed on the cpu backend.
void add_bench_command(CLI::App& app, int& exit_code);
}  // namespace websd
