// Subcommands of the s3xfs binary.
#pragma once

#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "s3xfs/base/status.h"

namespace s3xfs::cli {

struct Command {
  const char* name;
  const char* summary;
  const char* positional_usage;
  // Adds the command's options (and positional names) to the description.
  void (*define)(boost::program_options::options_description&,
                 boost::program_options::positional_options_description&);
  // Runs with parsed options; returns the process exit status.
  Status (*run)(const boost::program_options::variables_map&);
};

const std::vector<Command>& Commands();

// Parses args for c, handles --help, runs it, and prints "s3xfs <name>: <error>" on failure.
// Exit codes: 0 ok, 1 runtime failure, 2 usage error.
int RunCommand(const Command& c, const std::vector<std::string>& args);

// The data directory when --data-dir is not given: $S3XFS_DATA_DIR, else /var/lib/s3xfs for
// root, else $XDG_DATA_HOME/s3xfs or ~/.local/share/s3xfs.
std::string DefaultDataDir();

}  // namespace s3xfs::cli
