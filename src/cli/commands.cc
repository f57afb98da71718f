// The subcommand table, option parsing shared by every subcommand, and the default data
// directory.
#include "commands.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

namespace po = boost::program_options;

namespace s3xfs::cli {

const std::vector<Command>& Commands() {
  static const std::vector<Command> cmds = [] {
    std::vector<Command> all;
    for (auto group : {DataCommands, DaemonCommands, AdminCommands})
      for (const Command& c : group()) all.push_back(c);
    return all;
  }();
  return cmds;
}

namespace {

// Options every command has; never read from a config file.
void DefineCommon(po::options_description& d) {
  d.add_options()
      ("help,h", "show this help")
      ("config", po::value<std::string>(),
       "config file (default: $S3XFS_CONFIG, else " S3XFS_DEFAULT_CONFIG " when it exists)");
}

// Every option name some command defines, for telling typos from keys of other commands.
const std::set<std::string>& AllOptionNames() {
  static const std::set<std::string> names = [] {
    std::set<std::string> out;
    for (const Command& c : Commands()) {
      po::options_description d;
      po::positional_options_description p;
      c.define(d, p);
      for (const auto& o : d.options()) out.insert(o->long_name());
    }
    return out;
  }();
  return names;
}

}  // namespace

std::optional<std::string> ConfigPath(const po::variables_map& vm) {
  if (vm.count("config")) return vm["config"].as<std::string>();
  if (const char* e = std::getenv("S3XFS_CONFIG"); e && *e) return std::string(e);
  if (::access(S3XFS_DEFAULT_CONFIG, F_OK) == 0) return std::string(S3XFS_DEFAULT_CONFIG);
  return std::nullopt;
}

Status LoadConfig(const std::string& path, const Command& c, const po::options_description& desc,
                  po::variables_map& vm) {
  std::ifstream in(path);
  if (!in) return Status::InvalidArgument("cannot read config file " + path);
  po::parsed_options section(&desc), global(&desc);
  try {
    po::options_description none;
    po::parsed_options parsed = po::parse_config_file(in, none, /*allow_unregistered=*/true);
    for (const po::option& o : parsed.options) {
      std::string key = o.string_key, scope;
      if (size_t dot = key.find('.'); dot != std::string::npos) {
        scope = key.substr(0, dot);
        key = key.substr(dot + 1);
        bool known = false;
        for (const Command& k : Commands()) known = known || scope == k.name;
        if (!known)
          return Status::InvalidArgument(path + ": unknown section [" + scope + "]");
      }
      if (key == "help" || key == "config" || !AllOptionNames().count(key))
        return Status::InvalidArgument(path + ": unknown key '" + key + "'" +
                                       (scope.empty() ? "" : " in [" + scope + "]"));
      if (!scope.empty() && scope != c.name) continue;
      if (!desc.find_nothrow(key, false)) continue;  // another command's key
      po::option opt(key, o.value);
      (scope.empty() ? global : section).options.push_back(opt);
    }
    // First stored wins: the command line (already in vm), then [command], then global keys.
    po::store(section, vm);
    po::store(global, vm);
  } catch (const po::error& e) {
    return Status::InvalidArgument(path + ": " + e.what());
  }
  return Status::OK();
}

int RunCommand(const Command& c, const std::vector<std::string>& args) {
  po::options_description desc(std::string("s3xfs ") + c.name + " [options] " +
                               c.positional_usage + "\n" + c.summary + "\n\noptions");
  DefineCommon(desc);
  po::positional_options_description pos;
  c.define(desc, pos);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).positional(pos).run(), vm);
    if (vm.count("help")) {
      std::cout << desc << "\n";
      return 0;
    }
    if (auto path = ConfigPath(vm)) {
      Status st = LoadConfig(*path, c, desc, vm);
      if (!st.ok()) {
        std::cerr << "s3xfs " << c.name << ": " << st.message() << "\n";
        return 2;
      }
    }
    po::notify(vm);
    // Paths are resolved now: a mount detaches with chdir("/") before it opens them.
    for (const char* name : {"data-dir", "cache-dir", "s3-keys", "log-file", "ipfs-tls-ca",
                             "tls-cert", "tls-key"}) {
      auto it = vm.find(name);
      if (it != vm.end() && !it->second.empty()) {
        std::error_code ec;
        auto abs = std::filesystem::absolute(it->second.as<std::string>(), ec);
        if (!ec) it->second.value() = abs.lexically_normal().string();
      }
    }
  } catch (const po::error& e) {
    std::cerr << "s3xfs " << c.name << ": " << e.what() << "\n"
              << "usage: s3xfs " << c.name << " [options] " << c.positional_usage
              << " (see --help)\n";
    return 2;
  }
  Status st = c.run(vm);
  if (!st.ok()) {
    std::cerr << "s3xfs " << c.name << ": " << st.message() << "\n";
    return st.code() == Status::Code::kInvalidArgument ? 2 : 1;
  }
  return 0;
}

std::string DefaultDataDir() {
  if (const char* d = std::getenv("S3XFS_DATA_DIR"); d && *d) return d;
  if (::geteuid() == 0) return "/var/lib/s3xfs";
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) return std::string(x) + "/s3xfs";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.local/share/s3xfs";
  return ".s3xfs";
}

}  // namespace s3xfs::cli