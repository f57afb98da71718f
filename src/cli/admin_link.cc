// The CLI's side of the admin socket (see admin_link.h).
#include "admin_link.h"

#include <iostream>

#include "common.h"
#include "s3xfs/s3/credentials.h"
#include "s3xfs/s3/service.h"

namespace s3xfs::cli {

std::string DaemonKeysPath(const po::variables_map& vm) {
  return vm.count("s3-keys") ? AbsolutePath(vm["s3-keys"].as<std::string>()) : DataDir(vm) + "/s3-keys";
}

admin::DaemonInfo DaemonInfoFor(const po::variables_map& vm, const std::string& mode) {
  admin::DaemonInfo i;
  i.mode = mode;
  i.version = S3XFS_VERSION;
  i.data_dir = DataDir(vm);
  i.blocks_dir = i.data_dir + "/blocks";
  if (vm.count("mountpoint")) {
    i.mountpoint = AbsolutePath(vm["mountpoint"].as<std::string>());
    i.cache_dir = AbsolutePath(vm.count("cache-dir") ? vm["cache-dir"].as<std::string>()
                                                 : i.data_dir + "/cache");
  }
  if (vm.count("s3-listen") && vm["s3-listen"].as<std::string>() != "none")
    i.keys_file = DaemonKeysPath(vm);
  i.backend = vm.count("ipfs") ? vm["ipfs"].as<std::string>() : "embedded";
  return i;
}

std::function<Result<size_t>()> KeysReloader(s3::S3Service* service, std::string keys_file) {
  return [service, keys_file]() -> Result<size_t> {
    S3XFS_ASSIGN_OR_RETURN(s3::KeyStore keys, s3::KeyStore::Load(keys_file));
    size_t n = keys.access_keys().size();
    service->SetKeys(std::make_shared<const s3::KeyStore>(std::move(keys)));
    return n;
  };
}

std::unique_ptr<DaemonAdmin> DaemonAdmin::Start(admin::DaemonInfo info, admin::AdminTargets targets) {
  std::unique_ptr<DaemonAdmin> d(new DaemonAdmin);
  admin::AdminServerOptions o;
  o.socket_path = admin::AdminSocketPath(info.data_dir);
  d->service_ = std::make_unique<admin::AdminService>(std::move(info), std::move(targets));
  admin::AdminService* svc = d->service_.get();
  auto server = admin::AdminServer::Start(o, [svc](const admin::Json& r) { return svc->Handle(r); });
  if (!server.ok()) {
    std::cerr << "s3xfs: no admin socket (s3xfs status, flush, gc, keys will not reach this daemon): "
              << server.status().message() << "\n";
    return nullptr;
  }
  d->server_ = std::move(*server);
  return d;
}

DaemonAdmin::~DaemonAdmin() {
  if (service_) service_->Cancel();
  server_.reset();
}

Result<std::optional<admin::Json>> AskDaemon(const std::string& data_dir, const admin::Json& request,
                                             std::chrono::milliseconds timeout) {
  const std::string sock = admin::AdminSocketPath(data_dir);
  auto reply = admin::AdminCall(sock, request, timeout);
  if (reply.ok()) return std::optional<admin::Json>(std::move(*reply));
  if (!reply.status().IsNotFound()) return reply.status();
  // Nobody answers. A daemon may still hold the directory (starting, or its socket removed).
  S3XFS_ASSIGN_OR_RETURN(pid_t holder, admin::AdminLockHolder(sock));
  if (holder != 0)
    return Status::Unavailable("a daemon" + (holder > 0 ? " (pid " + std::to_string(holder) + ")" : std::string()) +
                               " runs on " + data_dir + " but its admin socket does not answer (" +
                               reply.status().message() + "); try again");
  return std::optional<admin::Json>();
}

Result<std::optional<admin::Json>> AskDaemonOk(const std::string& data_dir,
                                               const admin::Json& request,
                                               std::chrono::milliseconds timeout) {
  S3XFS_ASSIGN_OR_RETURN(auto reply, AskDaemon(data_dir, request, timeout));
  if (reply) S3XFS_RETURN_IF_ERROR(admin::ReplyStatus(*reply));
  return reply;
}

admin::Json Request(const char* name) {
  admin::Json j = admin::Json::MakeObject();
  j.Set("cmd", name);
  return j;
}

}  // namespace s3xfs::cli
