#pragma once

namespace CLI {
class App;
}

namespace websd {
// Registers `websd generate`: text-to-image to PNG files with the parameters in their text chunk.
void add_generate_command(CLI::App& app, int& exit_code);
}  // namespace websd
