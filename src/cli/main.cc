// s3xfs command-line entry point: dispatches subcommands. Each subcommand parses its own options
// (Boost.Program_options) and maps every failure to one line on stderr and a non-zero exit.
#include <malloc.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "commands.h"

namespace {

void PrintUsage(std::ostream& os) {
  os << "usage: s3xfs <command> [options]\n\ncommands:\n";
  for (const auto& c : s3xfs::cli::Commands()) {
    std::string name = c.name;
    os << "  " << name << std::string(name.size() < 12 ? 12 - name.size() : 1, ' ') << c.summary
       << "\n";
  }
  os << "\nEvery command takes --config FILE (default: $S3XFS_CONFIG, else " S3XFS_DEFAULT_CONFIG
        "\nwhen it exists). A config key is an option's long name: 'key = value' lines apply to\n"
        "every command that has the option, lines under [COMMAND] only to that command; the\n"
        "command line wins over [COMMAND], which wins over the global keys. See s3xfs.conf(5).\n"
        "\nRun 's3xfs <command> --help' for a command's options; 's3xfs --version'.\n";
}

}  // namespace

int main(int argc, char** argv) {
  // Block-sized buffers (256 KiB) are allocated and freed at a high rate. With glibc's defaults
  // each one crosses the mmap or trim threshold, so every block costs fresh page faults (cat of
  // 1 GiB: 5.1 s vs 0.9 s). Keep such buffers on the heap and keep a few MiB of it around.
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  mallopt(M_TRIM_THRESHOLD, 16 << 20);
  mallopt(M_TOP_PAD, 4 << 20);
  std::signal(SIGPIPE, SIG_IGN);  // EPIPE on stdout becomes an error we report
  if (argc < 2) {
    PrintUsage(std::cerr);
    return 2;
  }
  std::string cmd = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    PrintUsage(std::cout);
    return 0;
  }
  if (cmd == "--version") {
    std::cout << "s3xfs " << S3XFS_VERSION << "\n";
    return 0;
  }
  for (const auto& c : s3xfs::cli::Commands()) {
    if (cmd == c.name) return s3xfs::cli::RunCommand(c, args);
  }
  std::cerr << "s3xfs: unknown command '" << cmd << "'\n";
  PrintUsage(std::cerr);
  return 2;
}
