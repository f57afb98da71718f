#include "s3xfs/admin/service.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "s3xfs/admin/server.h"

namespace s3xfs::admin {
namespace {

constexpr auto kUseCacheFor = std::chrono::seconds(10);  // how long a walk of blocks/ is reused
constexpr auto kWalkBudget = std::chrono::seconds(2);    // a walk stops after this

Json StringOrNull(const std::string& s) { return s.empty() ? Json() : Json(s); }

Json UnixOrNull(int64_t ns) { return ns > 0 ? Json(ns / 1'000'000'000) : Json(); }

// A non-negative number of seconds, as milliseconds; nullopt when absent.
Result<std::optional<std::chrono::milliseconds>> Seconds(const Json& req, const char* name) {
  const Json& v = req[name];
  if (v.is_null()) return std::optional<std::chrono::milliseconds>();
  double s = v.number_or(-1);
  if (!v.is_number() || s < 0 || s > 1e9)
    return Status::InvalidArgument(std::string("\"") + name + "\" must be a number of seconds >= 0");
  return std::optional<std::chrono::milliseconds>(std::chrono::milliseconds(static_cast<int64_t>(s * 1000)));
}

Json Strings(const std::vector<std::string>& v) {
  Json a = Json::MakeArray();
  for (const std::string& s : v) a.Push(s);
  return a;
}

}  // namespace

AdminService::AdminService(DaemonInfo info, AdminTargets targets)
    : info_(std::move(info)), t_(std::move(targets)), started_ns_(Now()) {}

int64_t AdminService::Now() const {
  if (t_.now_ns) return t_.now_ns();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void AdminService::Cancel() { cancelled_.store(true); }

Json AdminService::Handle(const Json& req) {
  const std::string cmd = req["cmd"].str();
  if (cancelled_.load()) return ErrorReply(Status::Unavailable("the daemon is shutting down"));
  if (cmd == "info") return DoInfo();
  if (cmd == "status") return DoStatus();
  if (cmd == "progress") return DoProgress();
  if (cmd == "flush") return DoFlush(req);
  if (cmd == "gc") return DoGc(req);
  if (cmd == "fsck") return DoFsck(req);
  if (cmd == "reload-keys") return DoReloadKeys();
  if (cmd == "snapshot") return DoSnapshot(req);
  if (cmd == "restore") return DoRestore(req);
  return ErrorReply(Status::InvalidArgument(
      "unknown command \"" + cmd + "\" (info, status, progress, flush, gc, fsck, reload-keys, "
      "snapshot, restore)"));
}

AdminService::DiskUse AdminService::BlocksUse() {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> l(use_mu_);
    if (use_at_.time_since_epoch().count() != 0 && now - use_at_ < kUseCacheFor) return use_;
  }
  DiskUse u;
  if (!info_.blocks_dir.empty()) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::recursive_directory_iterator it(info_.blocks_dir, fs::directory_options::skip_permission_denied, ec), end;
    for (uint64_t n = 0; !ec && it != end; it.increment(ec), ++n) {
      if ((n & 1023) == 1023 && std::chrono::steady_clock::now() - now > kWalkBudget) {
        u.partial = true;
        break;
      }
      std::error_code fe;
      if (!it->is_regular_file(fe)) continue;
      uint64_t size = it->file_size(fe);
      if (fe) continue;  // removed meanwhile (GC)
      u.bytes += size;
      u.files++;
    }
  }
  std::lock_guard<std::mutex> l(use_mu_);
  use_ = u;
  use_at_ = std::chrono::steady_clock::now();
  return u;
}

Json AdminService::DaemonSection() {
  const int64_t now = Now();
  Json d = Json::MakeObject();
  d.Set("pid", static_cast<int64_t>(::getpid()));
  d.Set("mode", info_.mode);
  d.Set("version", StringOrNull(info_.version));
  d.Set("started_unix", UnixOrNull(started_ns_));
  d.Set("uptime_s", std::max<int64_t>(0, (now - started_ns_) / 1'000'000'000));
  d.Set("mountpoint", StringOrNull(info_.mountpoint));
  d.Set("s3_listen", StringOrNull(info_.s3_listen));
  d.Set("keys_file", StringOrNull(info_.keys_file));
  d.Set("cache_dir", StringOrNull(info_.cache_dir));
  return d;
}

Json AdminService::DoInfo() {
  Json j = Json::MakeObject();
  j.Set("ok", true);
  j.Set("data_dir", info_.data_dir);
  j.Set("daemon", DaemonSection());
  return j;
}

Json AdminService::DoStatus() {
  const int64_t now = Now();
  Json j = Json::MakeObject();
  j.Set("ok", true);
  j.Set("source", "daemon");
  j.Set("data_dir", info_.data_dir);
  j.Set("daemon", DaemonSection());
  j.Set("backend", StringOrNull(info_.backend));

  auto rs = t_.store->RemoteState();
  if (!rs.ok()) return ErrorReply(rs.status());
  j.Set("remote", rs->enabled ? Json(rs->remote) : Json());
  j.Set("remote_healthy", rs->enabled ? Json(rs->healthy) : Json());
  j.Set("remote_last_error", StringOrNull(rs->last_error));
  j.Set("pending_uploads", rs->queue.uploads);
  j.Set("pending_upload_bytes", rs->queue.upload_bytes);
  j.Set("oldest_pending_upload_age_s",
        rs->queue.oldest_upload_ns ? std::max<int64_t>(0, (now - rs->queue.oldest_upload_ns) / 1'000'000'000)
                                   : int64_t{0});
  j.Set("pending_remote_deletes", rs->queue.deletes);
  j.Set("remote_pins_roots", rs->enabled ? Json(rs->pins_roots) : Json());
  j.Set("pending_pins", rs->queue.pins);
  j.Set("pending_unpins", rs->queue.unpins);
  j.Set("pinned_roots", rs->pinned_roots);
  j.Set("unpinned_roots", rs->unpinned_roots);
  j.Set("uploaded_blocks", rs->uploaded_blocks);
  j.Set("uploaded_bytes", rs->uploaded_bytes);
  j.Set("deleted_remote_blocks", rs->deleted_blocks);
  j.Set("last_upload_unix", UnixOrNull(rs->last_upload_ns));

  FsStats fs;
  if (t_.fs) fs = t_.fs->Stats();
  j.Set("open_files", fs.open_files);
  j.Set("dirty_files", fs.dirty_files);
  j.Set("dirty_bytes", fs.dirty_bytes);
  j.Set("last_flush_unix", UnixOrNull(fs.last_flush_ns));

  DiskUse use = BlocksUse();
  j.Set("local_store_bytes", use.bytes);
  j.Set("local_store_files", use.files);
  j.Set("local_store_partial", use.partial);
  struct statvfs sv;
  if (::statvfs(info_.data_dir.c_str(), &sv) == 0)
    j.Set("disk_free_bytes", static_cast<uint64_t>(sv.f_bavail) * sv.f_frsize);
  else
    j.Set("disk_free_bytes", Json());

  GcRun gc = t_.store->LastGc();
  if (gc.finished_ns == 0) {
    j.Set("last_gc", Json());
  } else {
    Json g = Json::MakeObject();
    g.Set("unix", gc.finished_ns / 1'000'000'000);
    g.Set("took_ms", gc.took_ns / 1'000'000);
    g.Set("ok", gc.status.ok());
    g.Set("error", gc.status.ok() ? Json() : Json(gc.status.message()));
    g.Set("blocks_deleted", gc.stats.blocks_deleted);
    g.Set("bytes_deleted", gc.stats.bytes_deleted);
    g.Set("blocks_waiting", gc.stats.blocks_waiting);
    j.Set("last_gc", std::move(g));
  }
  j.Set("fsck_running", fsck_running_.load());
  return j;
}

Json AdminService::DoProgress() {
  Json j = Json::MakeObject();
  j.Set("ok", true);
  FsStats fs;
  if (t_.fs) fs = t_.fs->Stats();
  j.Set("dirty_files", fs.dirty_files);
  j.Set("dirty_bytes", fs.dirty_bytes);
  auto rs = t_.store->RemoteState();
  if (!rs.ok()) return ErrorReply(rs.status());
  j.Set("pending_uploads", rs->queue.uploads);
  j.Set("pending_upload_bytes", rs->queue.upload_bytes);
  j.Set("pending_pins", rs->queue.pins);
  j.Set("remote_last_error", StringOrNull(rs->last_error));
  if (fsck_running_.load()) {
    Json f = Json::MakeObject();
    f.Set("done_bytes", fsck_done_.load());
    f.Set("total_bytes", fsck_total_.load());
    j.Set("fsck", std::move(f));
  } else {
    j.Set("fsck", Json());
  }
  return j;
}

Json AdminService::DoFlush(const Json& req) {
  auto wait = Seconds(req, "wait_upload_s");
  if (!wait.ok()) return ErrorReply(wait.status());
  FsStats before;
  if (t_.fs) before = t_.fs->Stats();
  const auto start = std::chrono::steady_clock::now();
  Status st = t_.fs ? t_.fs->FlushAll() : t_.store->SyncLedger();
  if (!st.ok()) return ErrorReply(st);
  Json j = Json::MakeObject();
  j.Set("ok", true);
  j.Set("flushed_files", before.dirty_files);
  j.Set("flushed_bytes", before.dirty_bytes);
  if (*wait) {
    // In slices, so that Cancel (daemon shutdown) ends the wait.
    const auto deadline = std::chrono::steady_clock::now() + **wait;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      Status w = t_.store->WaitUploaded(std::clamp(left, std::chrono::milliseconds(0),
                                                   std::chrono::milliseconds(500)));
      if (w.ok()) break;
      if (w.code() != Status::Code::kTimeout) return ErrorReply(w);
      if (left.count() <= 0) return ErrorReply(w);  // the message says what is left
      if (cancelled_.load())
        return ErrorReply(Status::Unavailable("the daemon is shutting down; " + w.message()));
    }
  }
  auto rs = t_.store->RemoteState();
  if (!rs.ok()) return ErrorReply(rs.status());
  j.Set("pending_uploads", rs->queue.uploads);
  j.Set("pending_upload_bytes", rs->queue.upload_bytes);
  j.Set("took_ms", static_cast<int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::steady_clock::now() - start).count()));
  return j;
}

Json AdminService::DoGc(const Json& req) {
  auto grace = Seconds(req, "grace_s");
  if (!grace.ok()) return ErrorReply(grace.status());
  const auto start = std::chrono::steady_clock::now();
  auto stats = t_.store->CollectGarbage(*grace);
  if (!stats.ok()) return ErrorReply(stats.status());
  Json j = Json::MakeObject();
  j.Set("ok", true);
  j.Set("blocks_deleted", stats->blocks_deleted);
  j.Set("bytes_deleted", stats->bytes_deleted);
  j.Set("blocks_waiting", stats->blocks_waiting);
  j.Set("took_ms", static_cast<int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::steady_clock::now() - start).count()));
  return j;
}

Json SnapshotJson(const SnapshotInfo& s) {
  Json j = Json::MakeObject();
  j.Set("ok", true);
  j.Set("tree", s.tree.ToString());
  j.Set("manifest", s.manifest.ToString());
  j.Set("files", s.files).Set("directories", s.directories).Set("symlinks", s.symlinks);
  j.Set("special", s.special).Set("unpathable", s.unpathable).Set("bytes", s.bytes);
  return j;
}

Json RestoreJson(const RestoreInfo& r) {
  Json j = Json::MakeObject();
  j.Set("ok", true);
  j.Set("metadata", r.metadata);
  j.Set("tree", r.tree.ToString());
  j.Set("manifest", r.manifest.empty() ? Json() : Json(r.manifest.ToString()));
  j.Set("files", r.files).Set("directories", r.directories).Set("symlinks", r.symlinks);
  j.Set("special", r.special).Set("links", r.links).Set("bytes", r.bytes);
  return j;
}

Json AdminService::DoSnapshot(const Json& req) {
  if (!req["bucket"].is_string()) return ErrorReply(Status::InvalidArgument("\"bucket\" is required"));
  // What the mount has not committed yet belongs in the snapshot.
  if (t_.fs) {
    Status st = t_.fs->FlushAll();
    if (!st.ok()) return ErrorReply(st);
  }
  SnapshotOptions o;
  o.prefix = req["prefix"].str();
  auto r = t_.store->Snapshot(req["bucket"].str(), o);
  if (!r.ok()) return ErrorReply(r.status());
  return SnapshotJson(*r);
}

Json AdminService::DoRestore(const Json& req) {
  if (!req["bucket"].is_string() || !req["cid"].is_string())
    return ErrorReply(Status::InvalidArgument("\"cid\" and \"bucket\" are required"));
  auto cid = Cid::Parse(req["cid"].str());
  if (!cid.ok()) return ErrorReply(cid.status());
  auto r = t_.store->Restore(*cid, req["bucket"].str(), RestoreOptions{});
  if (!r.ok()) return ErrorReply(r.status());
  return RestoreJson(*r);
}

Json AdminService::DoFsck(const Json& req) {
  const Json& repair = req["repair"];
  if (!repair.is_null() && !repair.is_bool())
    return ErrorReply(Status::InvalidArgument("\"repair\" must be true or false"));
  if (fsck_running_.exchange(true))
    return ErrorReply(Status::Unavailable("an fsck is already running in this daemon"));
  fsck_done_.store(0);
  fsck_total_.store(0);
  auto rep = t_.store->Fsck(repair.bool_or(false), [this](uint64_t done, uint64_t total) {
    fsck_total_.store(total, std::memory_order_relaxed);
    fsck_done_.store(done, std::memory_order_relaxed);
  });
  fsck_running_.store(false);
  if (!rep.ok()) return ErrorReply(rep.status());
  Json j = Json::MakeObject();
  j.Set("ok", true);
  j.Set("clean", rep->clean());
  j.Set("missing_blocks", Strings(rep->missing_blocks));
  j.Set("wrong_refcounts", Strings(rep->wrong_refcounts));
  j.Set("orphan_blocks", Strings(rep->orphan_blocks));
  j.Set("other", Strings(rep->other));
  j.Set("repaired", rep->repaired);
  j.Set("checked_bytes", fsck_total_.load());
  return j;
}

Json AdminService::DoReloadKeys() {
  if (!t_.reload_keys)
    return ErrorReply(Status::NotSupported("this daemon has no S3 listener (--s3-listen none)"));
  auto n = t_.reload_keys();
  if (!n.ok()) return ErrorReply(n.status());
  Json j = Json::MakeObject();
  j.Set("ok", true);
  j.Set("keys", static_cast<uint64_t>(*n));
  j.Set("keys_file", StringOrNull(info_.keys_file));
  return j;
}

}  // namespace s3xfs::admin
