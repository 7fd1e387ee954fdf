#pragma once

namespace CLI {
class App;
}

namespace websd {
// Registers `websd info --model DIR`: architecture, sizes and dtypes of a pipeline folder.
void add_info_command(CLI::App& app, int& exit_code);
}  // namespace websd
