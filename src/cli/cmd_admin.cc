// Operating a data directory: status.
#include <unistd.h>

#include <chrono>

#include "commands.h"
#include "common.h"

namespace s3xfs::cli {

namespace {

// ---- status ----

void DefineStatus(po::options_description& d, po::positional_options_description&) {
  d.add_options()
      ("data-dir", po::value<std::string>(), "data directory")
      ("json", po::bool_switch(), "print one JSON object");
}

// What the data directory's ledger says; works while a daemon runs on it.
Status RunStatus(const po::variables_map& vm) {
  std::string data = DataDir(vm);
  std::string ledger = data + "/ledger.db";
  if (::access(ledger.c_str(), F_OK) != 0) return Status::NotFound("no ledger at " + ledger);
  S3XFS_ASSIGN_OR_RETURN(RemoteStatus rs, ReadRemoteQueue(ledger));
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::system_clock::now().time_since_epoch()).count();
  const int64_t age_s = rs.queue.oldest_upload_ns ? (now - rs.queue.oldest_upload_ns) / 1'000'000'000 : 0;
  std::string out;
  if (vm["json"].as<bool>()) {
    out = "{\"data_dir\":" + JsonString(data) + ",\"remote\":" +
          (rs.enabled ? JsonString(rs.remote) : std::string("null")) +
          ",\"pending_uploads\":" + std::to_string(rs.queue.uploads) +
          ",\"pending_upload_bytes\":" + std::to_string(rs.queue.upload_bytes) +
          ",\"oldest_pending_upload_age_s\":" + std::to_string(age_s) +
          ",\"pending_remote_deletes\":" + std::to_string(rs.queue.deletes) + "}\n";
  } else {
    out = "data directory:         " + data + "\n";
    out += "remote block store:     " + (rs.enabled ? rs.remote : std::string("none (embedded only)")) + "\n";
    out += "pending uploads:        " + std::to_string(rs.queue.uploads) + " blocks, " +
           std::to_string(rs.queue.upload_bytes) + " bytes";
    if (rs.queue.uploads) out += ", oldest queued " + std::to_string(age_s) + " s ago";
    out += "\npending remote deletes: " + std::to_string(rs.queue.deletes) + "\n";
  }
  return WriteFd(1, AsBytes(out));
}

}  // namespace

std::vector<Command> AdminCommands() {
  return {
      {"status", "show the upload queue of a data directory (works while a daemon runs)", "",
       DefineStatus, RunStatus},
  };
}

}  // namespace s3xfs::cli
