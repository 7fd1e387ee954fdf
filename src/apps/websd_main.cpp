// The websd command-line tool. Every error a user can cause ends as one line on stderr and a non-zero exit code.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "apps/bench.h"
#include "apps/info.h"
#include "core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"websd: Stable Diffusion on your own hardware (native CLI of the websd engine)"};
  app.require_subcommand(1);
  int exit_code = 0;
  websd::add_info_command(app, exit_code);
  websd::add_bench_command(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const websd::Error& e) {
    std::fprintf(stderr, "websd: error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "websd: error: out of memory\n");
    return 1;
  }
  return exit_code;
}
