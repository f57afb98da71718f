// Operating a data directory and the daemon running on it: status, flush, gc, keys. Each asks
// the daemon over its admin socket (admin_link.h) when one runs, and otherwise works on the
// data directory itself where that is safe.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <iostream>
#include <thread>

#include "admin_link.h"
#include "commands.h"
#include "common.h"
#include "progress.h"
#include "s3xfs/s3/credentials.h"

namespace s3xfs::cli {

namespace {

using admin::Json;

constexpr auto kQuickCall = std::chrono::seconds(30);  // status, info, gc, reload-keys

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "42 s", "3 min 5 s", "2 h 10 min", "4 d 3 h".
std::string FormatAge(int64_t s) {
  if (s < 0) s = 0;
  if (s < 60) return std::to_string(s) + " s";
  if (s < 3600) return std::to_string(s / 60) + " min " + std::to_string(s % 60) + " s";
  if (s < 86400) return std::to_string(s / 3600) + " h " + std::to_string(s % 3600 / 60) + " min";
  return std::to_string(s / 86400) + " d " + std::to_string(s % 86400 / 3600) + " h";
}

std::string Ago(const Json& unix_s) {
  if (!unix_s.is_number()) return "never";
  return FormatAge(NowNs() / 1'000'000'000 - unix_s.int_or(0)) + " ago";
}

std::string HumanBytes(const Json& n) { return FormatBytes(static_cast<uint64_t>(n.int_or(0))); }
std::string Num(const Json& n) { return std::to_string(n.int_or(0)); }

Status PrintJson(Json j) {
  Json out = Json::MakeObject();
  for (const auto& [k, v] : j.object()) {
    if (k != "ok") out.Set(k, v);
  }
  return WriteFd(1, AsBytes(out.Dump() + "\n"));
}

// ---- status ----

void DefineStatus(po::options_description& d, po::positional_options_description&) {
  d.add_options()
      ("data-dir", po::value<std::string>(), "data directory")
      ("json", po::bool_switch(), "print one JSON object");
}

// What the ledger says, when no daemon runs (the fields only a daemon knows are left out).
Result<Json> LedgerStatus(const std::string& data) {
  std::string ledger = data + "/ledger.db";
  if (::access(ledger.c_str(), F_OK) != 0) return Status::NotFound("no ledger at " + ledger);
  S3XFS_ASSIGN_OR_RETURN(RemoteStatus rs, ReadRemoteQueue(ledger));
  const int64_t age_s =
      rs.queue.oldest_upload_ns ? (NowNs() - rs.queue.oldest_upload_ns) / 1'000'000'000 : 0;
  Json j = Json::MakeObject();
  j.Set("source", "ledger");
  j.Set("data_dir", data);
  j.Set("daemon", Json());
  j.Set("remote", rs.enabled ? Json(rs.remote) : Json());
  j.Set("pending_uploads", rs.queue.uploads);
  j.Set("pending_upload_bytes", rs.queue.upload_bytes);
  j.Set("oldest_pending_upload_age_s", std::max<int64_t>(0, age_s));
  j.Set("pending_remote_deletes", rs.queue.deletes);
  j.Set("remote_pins_roots", rs.enabled ? Json(rs.pins_roots) : Json());
  j.Set("pending_pins", rs.queue.pins);
  j.Set("pending_unpins", rs.queue.unpins);
  return j;
}

std::string StatusText(const Json& j) {
  std::string out;
  auto line = [&](const std::string& name, const std::string& value) {
    out += name + std::string(name.size() < 24 ? 24 - name.size() : 1, ' ') + value + "\n";
  };
  line("data directory:", j["data_dir"].str());
  const Json& d = j["daemon"];
  if (d.is_null()) {
    line("daemon:", "none running (figures from the ledger)");
  } else {
    line("daemon:", d["mode"].str() + ", pid " + Num(d["pid"]) + ", up " +
                        FormatAge(d["uptime_s"].int_or(0)) +
                        (d["version"].is_string() ? " (s3xfs " + d["version"].str() + ")" : ""));
    if (d["mountpoint"].is_string()) line("mount point:", d["mountpoint"].str());
    line("S3 listener:", d["s3_listen"].is_string() ? d["s3_listen"].str() : "none");
  }
  const Json& remote = j["remote"];
  std::string backend = remote.is_string() ? remote.str() : "embedded only";
  if (!d.is_null() && remote.is_string()) {
    backend += j["remote_healthy"].bool_or(true)
                   ? " (healthy)"
                   : " (FAILING: " + j["remote_last_error"].str() + ")";
  }
  line("back end:", backend);
  std::string pending = Num(j["pending_uploads"]) + " blocks, " + HumanBytes(j["pending_upload_bytes"]);
  if (j["pending_uploads"].int_or(0) > 0)
    pending += ", oldest queued " + FormatAge(j["oldest_pending_upload_age_s"].int_or(0)) + " ago";
  line("pending uploads:", pending);
  line("pending remote deletes:", Num(j["pending_remote_deletes"]));
  if (j["remote_pins_roots"].bool_or(false) || j["pending_pins"].int_or(0) > 0 ||
      j["pending_unpins"].int_or(0) > 0) {
    std::string pins = Num(j["pending_pins"]) + " roots to pin, " + Num(j["pending_unpins"]) + " to unpin";
    if (j["pinned_roots"].is_number())
      pins += " (" + Num(j["pinned_roots"]) + " pinned, " + Num(j["unpinned_roots"]) +
              " unpinned since start)";
    line("pending pins:", pins);
  }
  if (d.is_null()) return out;
  if (remote.is_string()) {
    line("uploaded:", Num(j["uploaded_blocks"]) + " blocks, " + HumanBytes(j["uploaded_bytes"]) +
                          " since start (last " + Ago(j["last_upload_unix"]) + ")");
  }
  if (d["mountpoint"].is_string()) {
    line("dirty (write-back):", HumanBytes(j["dirty_bytes"]) + " in " + Num(j["dirty_files"]) +
                                    " files (" + Num(j["open_files"]) + " open)");
    line("last flush:", Ago(j["last_flush_unix"]));
  }
  line("local block store:", HumanBytes(j["local_store_bytes"]) + " in " + Num(j["local_store_files"]) +
                                 " files" + (j["local_store_partial"].bool_or(false) ? " (or more)" : ""));
  if (j["disk_free_bytes"].is_number()) line("free disk:", HumanBytes(j["disk_free_bytes"]));
  const Json& gc = j["last_gc"];
  if (gc.is_null()) {
    line("last GC:", "not yet");
  } else if (!gc["ok"].bool_or(false)) {
    line("last GC:", Ago(gc["unix"]) + ", FAILED: " + gc["error"].str());
  } else {
    line("last GC:", Ago(gc["unix"]) + ": " + Num(gc["blocks_deleted"]) + " blocks (" +
                         HumanBytes(gc["bytes_deleted"]) + ") deleted, " + Num(gc["blocks_waiting"]) +
                         " waiting for the grace period");
  }
  if (j["fsck_running"].bool_or(false)) line("fsck:", "running");
  return out;
}

Status RunStatus(const po::variables_map& vm) {
  std::string data = DataDir(vm);
  auto reply = AskDaemonOk(data, Request("status"), kQuickCall);
  Json j;
  if (reply.ok() && *reply) {
    j = std::move(**reply);
  } else {
    // A daemon that cannot be asked still leaves its queue in the ledger.
    if (!reply.ok()) std::cerr << "s3xfs status: " << reply.status().message() << "\n";
    S3XFS_ASSIGN_OR_RETURN(j, LedgerStatus(data));
  }
  if (vm["json"].as<bool>()) return PrintJson(std::move(j));
  return WriteFd(1, AsBytes(StatusText(j)));
}

// ---- flush ----

void DefineFlush(po::options_description& d, po::positional_options_description&) {
  d.add_options()
      ("data-dir", po::value<std::string>(), "data directory")
      ("wait-upload", po::value<std::string>()->implicit_value("3600"),
       "also wait until the upload queue to the remote block store is empty, at most SECONDS "
       "(default 3600)")
      ("json", po::bool_switch(), "print the daemon's reply as one JSON object");
}

// Asks the daemon to flush; on a terminal, shows meanwhile what it still has to flush, then
// (waiting) to upload. nullopt when no daemon runs.
Result<std::optional<Json>> FlushWithProgress(const std::string& data, const Json& req,
                                              std::chrono::milliseconds timeout, bool waiting) {
  Progress bar("flushing");
  if (!bar.enabled()) return AskDaemon(data, req, timeout);
  auto call = std::async(std::launch::async, [&] { return AskDaemon(data, req, timeout); });
  uint64_t dirty0 = 0, upload0 = 0;
  bool uploading = false;
  while (call.wait_for(std::chrono::milliseconds(200)) != std::future_status::ready) {
    auto p = AskDaemon(data, Request("progress"), std::chrono::seconds(5));
    if (!p.ok() || !*p || !admin::ReplyStatus(**p).ok()) continue;
    const Json& j = **p;
    uint64_t dirty = static_cast<uint64_t>(j["dirty_bytes"].int_or(0));
    uint64_t upload = static_cast<uint64_t>(j["pending_upload_bytes"].int_or(0));
    if (!uploading && waiting && dirty == 0) {
      uploading = true;
      upload0 = upload;
      bar.Restart("uploading", upload0);
    }
    if (uploading) {
      upload0 = std::max(upload0, upload);  // new writes may queue more
      bar.SetTotal(upload0);
      bar.Set(upload0 - upload);
    } else {
      dirty0 = std::max(dirty0, dirty);
      bar.SetTotal(dirty0);
      bar.Set(dirty0 - dirty);
    }
  }
  auto r = call.get();
  if (r.ok() && *r && admin::ReplyStatus(**r).ok()) {
    bar.Set(uploading ? upload0 : dirty0);
    bar.Finish();
  }
  return r;
}

Status RunFlush(const po::variables_map& vm) {
  std::string data = DataDir(vm);
  Json req = Request("flush");
  std::chrono::milliseconds timeout = std::chrono::minutes(10);  // flushing alone
  const bool waiting = vm.count("wait-upload") > 0;
  if (waiting) {
    S3XFS_ASSIGN_OR_RETURN(uint64_t s, ParseCount(vm, "wait-upload", 3600));
    req.Set("wait_upload_s", s);
    timeout += std::chrono::seconds(s);
  }
  S3XFS_ASSIGN_OR_RETURN(auto reply, FlushWithProgress(data, req, timeout, waiting));
  if (!reply) {
    // No daemon: nothing is dirty, and nothing uploads the queue.
    S3XFS_ASSIGN_OR_RETURN(Json st, LedgerStatus(data));
    int64_t pending = st["pending_uploads"].int_or(0);
    if (waiting && pending > 0)
      return Status::Unavailable(std::to_string(pending) + " blocks wait for upload to " +
                                 st["remote"].str() + ", and no daemon runs on " + data +
                                 " to upload them");
    std::cerr << "s3xfs flush: no daemon runs on " << data << "; nothing to flush\n";
    return Status::OK();
  }
  Json j = std::move(*reply);
  S3XFS_RETURN_IF_ERROR(admin::ReplyStatus(j));
  if (vm["json"].as<bool>()) return PrintJson(std::move(j));
  std::string out = "flushed " + HumanBytes(j["flushed_bytes"]) + " in " + Num(j["flushed_files"]) +
                    " files; " + Num(j["pending_uploads"]) + " blocks (" +
                    HumanBytes(j["pending_upload_bytes"]) + ") pending upload\n";
  return WriteFd(1, AsBytes(out));
}

// ---- gc ----

void DefineGc(po::options_description& d, po::positional_options_description&) {
  d.add_options()
      ("data-dir", po::value<std::string>(), "data directory")
      ("grace", po::value<std::string>(),
       "delete blocks unreferenced for at least SECONDS (default: the daemon's grace, 300)")
      ("json", po::bool_switch(), "print one JSON object");
}

Status RunGc(const po::variables_map& vm) {
  std::string data = DataDir(vm);
  Json req = Request("gc");
  std::optional<std::chrono::milliseconds> grace;
  if (vm.count("grace")) {
    S3XFS_ASSIGN_OR_RETURN(uint64_t s, ParseCount(vm, "grace", 0));
    req.Set("grace_s", s);
    grace = std::chrono::seconds(s);
  }
  S3XFS_ASSIGN_OR_RETURN(auto reply, AskDaemonOk(data, req, std::chrono::hours(1)));
  Json j;
  if (reply) {
    j = std::move(*reply);
  } else {
    // No daemon: collect in this process (nothing else writes the directory).
    S3XFS_ASSIGN_OR_RETURN(auto blocks, OpenStore(vm, false));
    ObjectStoreOptions opt;
    opt.ledger_path = data + "/ledger.db";
    S3XFS_ASSIGN_OR_RETURN(auto store, ObjectStore::Open(opt, blocks.get()));
    S3XFS_ASSIGN_OR_RETURN(GcStats gs, store->CollectGarbage(grace));
    j = Json::MakeObject();
    j.Set("blocks_deleted", gs.blocks_deleted);
    j.Set("bytes_deleted", gs.bytes_deleted);
    j.Set("blocks_waiting", gs.blocks_waiting);
  }
  if (vm["json"].as<bool>()) return PrintJson(std::move(j));
  std::string out = "deleted " + Num(j["blocks_deleted"]) + " blocks (" + HumanBytes(j["bytes_deleted"]) +
                    "); " + Num(j["blocks_waiting"]) + " unreferenced blocks wait for the grace period\n";
  return WriteFd(1, AsBytes(out));
}

// ---- keys ----

void DefineKeys(po::options_description& d, po::positional_options_description& p) {
  d.add_options()
      ("data-dir", po::value<std::string>(), "data directory")
      ("s3-keys", po::value<std::string>(),
       "credentials file (default: the running daemon's, else DATA_DIR/s3-keys)")
      ("show-secrets", po::bool_switch(), "list: print each secret key after its access key")
      ("force", po::bool_switch(), "remove: also the first pair (owner of buckets made in the mount)")
      ("action", po::value<std::string>()->required(), "add, list or remove")
      ("args", po::value<std::vector<std::string>>(), "add: [ACCESS SECRET]; remove: ACCESS");
  p.add("action", 1).add("args", -1);
}

std::string Canonical(const std::string& p) {
  std::error_code ec;
  auto c = std::filesystem::weakly_canonical(p, ec);
  return ec ? p : c.string();
}

Status RunKeys(const po::variables_map& vm) {
  const std::string data = DataDir(vm);
  const std::string action = vm["action"].as<std::string>();
  std::vector<std::string> args;
  if (vm.count("args")) args = vm["args"].as<std::vector<std::string>>();
  if (action != "add" && action != "list" && action != "remove")
    return Status::InvalidArgument("unknown action \"" + action + "\" (add, list or remove)");

  // Which file: --s3-keys, else the one the running daemon reads, else DATA_DIR/s3-keys.
  auto daemon = AskDaemonOk(data, Request("info"), kQuickCall);
  if (!daemon.ok()) return daemon.status();  // a daemon runs but cannot be told: do not edit behind it
  std::string daemon_keys =
      *daemon ? (**daemon)["daemon"]["keys_file"].str() : std::string();
  std::string path = vm.count("s3-keys") ? vm["s3-keys"].as<std::string>()
                     : !daemon_keys.empty() ? daemon_keys
                                            : data + "/s3-keys";

  if (action == "list") {
    if (!args.empty()) return Status::InvalidArgument("list takes no arguments");
    S3XFS_ASSIGN_OR_RETURN(s3::KeyStore ks, s3::KeyStore::Load(path));
    std::string out;
    for (const std::string& k : ks.access_keys()) {
      out += k;
      if (vm["show-secrets"].as<bool>()) out += " " + *ks.SecretOf(k);
      out += "\n";
    }
    return WriteFd(1, AsBytes(out));
  }

  std::string printed;
  if (action == "add") {
    std::string access, secret;
    if (args.empty()) {
      std::tie(access, secret) = s3::GenerateKeyPair();
      printed = access + " " + secret + "\n";
    } else if (args.size() == 2) {
      access = args[0];
      secret = args[1];
    } else {
      return Status::InvalidArgument("add takes no arguments (a generated pair) or ACCESS SECRET");
    }
    S3XFS_RETURN_IF_ERROR(s3::AddKeyToFile(path, access, secret));
  } else {
    if (args.size() != 1) return Status::InvalidArgument("remove takes one access key");
    Status st = s3::RemoveKeyFromFile(path, args[0], vm["force"].as<bool>());
    if (!st.ok() && st.code() == Status::Code::kInvalidArgument && !vm["force"].as<bool>() &&
        st.message().find("first pair") != std::string::npos)
      return Status::InvalidArgument(st.message() + " (--force removes it anyway)");
    S3XFS_RETURN_IF_ERROR(st);
  }
  if (!printed.empty()) S3XFS_RETURN_IF_ERROR(WriteFd(1, AsBytes(printed)));

  // Tell the daemon, which then uses the file at once.
  if (!*daemon) return Status::OK();
  if (daemon_keys.empty()) {
    std::cerr << "s3xfs keys: the daemon on " << data << " has no S3 listener; the change "
              << "applies when one starts with " << path << "\n";
    return Status::OK();
  }
  if (Canonical(daemon_keys) != Canonical(path)) {
    std::cerr << "s3xfs keys: the daemon on " << data << " reads " << daemon_keys << ", not "
              << path << "; it was not reloaded\n";
    return Status::OK();
  }
  S3XFS_ASSIGN_OR_RETURN(auto reloaded, AskDaemonOk(data, Request("reload-keys"), kQuickCall));
  if (!reloaded) return Status::Unavailable("the daemon on " + data + " stopped before it reloaded the keys");
  std::cerr << "s3xfs keys: the daemon (pid " << Num((**daemon)["daemon"]["pid"]) << ") now uses "
            << Num((*reloaded)["keys"]) << " key pairs\n";
  return Status::OK();
}

}  // namespace

std::vector<Command> AdminCommands() {
  return {
      {"status", "show what the daemon on a data directory is doing (else what its ledger says)",
       "", DefineStatus, RunStatus},
      {"flush", "make the daemon commit every dirty file (and wait for uploads)", "", DefineFlush,
       RunFlush},
      {"gc", "collect garbage now (in the daemon when one runs)", "", DefineGc, RunGc},
      {"keys", "add, list or remove S3 key pairs (the daemon reloads them at once)",
       "add [ACCESS SECRET] | list | remove ACCESS", DefineKeys, RunKeys},
  };
}

}  // namespace s3xfs::cli
