#pragma once

namespace CLI {
class App;
}

namespace websd {
// Registers `websd convert INPUT -o OUTDIR [--dtype f32|f16|q8]`: any model websd opens -> a web pack.
void add_convert_command(CLI::App& app, int& exit_code);
}  // namespace websd
