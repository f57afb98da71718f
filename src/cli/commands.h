// Subcommands of the s3xfs binary.
#pragma once

#include <optional>
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
// The groups Commands() is made of (cmd_data.cc, cmd_daemon.cc, cmd_admin.cc).
std::vector<Command> DataCommands();
std::vector<Command> DaemonCommands();
std::vector<Command> AdminCommands();

// Parses args for c, handles --help, runs it, and prints "s3xfs <name>: <error>" on failure.
// Exit codes: 0 ok, 1 runtime failure, 2 usage error.
int RunCommand(const Command& c, const std::vector<std::string>& args);

#define S3XFS_DEFAULT_CONFIG "/etc/s3xfs/s3xfs.conf"

// The config file: --config, else $S3XFS_CONFIG, else /etc/s3xfs/s3xfs.conf when it exists.
std::optional<std::string> ConfigPath(const boost::program_options::variables_map& vm);
// Adds the keys of an INI config file to vm, below what the command line set. Keys outside a
// section apply to every command that has the option; keys in a [COMMAND] section only to that
// command and win over the global ones. Unknown keys and sections are errors (typos must not
// pass silently); keys of other commands are skipped.
Status LoadConfig(const std::string& path, const Command& c,
                  const boost::program_options::options_description& desc,
                  boost::program_options::variables_map& vm);

// The data directory when --data-dir is not given: $S3XFS_DATA_DIR, else /var/lib/s3xfs for
// root, else $XDG_DATA_HOME/s3xfs or ~/.local/share/s3xfs.
std::string DefaultDataDir();

}  // namespace s3xfs::cli
