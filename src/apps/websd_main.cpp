// The websd command-line tool. Every error a user can cause ends as one line on stderr and a non-zero exit code.
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "apps/bench.h"
#include "apps/convert.h"
#include "apps/generate.h"
#include "apps/info.h"
#include "core/error.h"

int main(int argc, char** argv) {
  // Buffers of a MiB and more (weights read or made for a network, activation arenas) are mapped and go back to the
  // system when freed. glibc otherwise raises its threshold to 32 MiB after the first large free and serves later
  // weights from its heap, which it keeps: SD 1.5 with q8 weights peaked at 1365 MiB over its three networks, 1165
  // MiB with this (as the UNet alone), and f16 stayed at 1982 MiB.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  CLI::App app{"websd: Stable Diffusion on your own hardware (native CLI of the websd engine)"};
  app.require_subcommand(1);
  int exit_code = 0;
  websd::add_generate_command(app, exit_code);
  websd::add_info_command(app, exit_code);
  websd::add_convert_command(app, exit_code);
  websd::add_bench_command(app, exit_code);
  if (argc > 1 && argv[1][0] != '-') {
    bool known = false;
    std::string names;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
      known = known || sub->get_name() == argv[1];
      names += (names.empty() ? "" : ", ") + sub->get_name();
    }
    if (!known) {
      std::fprintf(stderr, "websd: error: unknown command '%s' (commands: %s; see websd --help)\n", argv[1],
                   names.c_str());
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "websd: error: %s (see websd %s--help)\n", e.what(),
                 argc > 1 && argv[1][0] != '-' ? (std::string(argv[1]) + " ").c_str() : "");
    return e.get_exit_code() ? e.get_exit_code() : 2;
  } catch (const websd::Error& e) {
    std::fprintf(stderr, "websd: error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "websd: error: out of memory (try a smaller size, or close other programs)\n");
    return 1;
  }
  return exit_code;
}
