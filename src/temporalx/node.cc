// `s3xfs node`: the gRPC front end. The services here only adapt gRPC calls and streams to the
// handlers (handlers.h), translate Status to gRPC status codes (once, in ToGrpc) and log failed
// calls; the server object owns the core and the gRPC server.
#include "s3xfs/temporalx/node.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/resource_quota.h>

#include <climits>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>

#include "handlers.h"
#include "node_core.h"
#include "s3xfs/base/log.h"
#include "temporalx.grpc.pb.h"

namespace s3xfs {

namespace {

using node::NodeCore;

// Calls served at once; a call beyond it is refused with RESOURCE_EXHAUSTED (which clients
// retry) instead of the node growing threads without bound.
constexpr int kMaxServerThreads = 128;

// ---- errors

grpc::StatusCode ToGrpcCode(const Status& st) {
  switch (st.code()) {
    case Status::Code::kOk: return grpc::StatusCode::OK;
    case Status::Code::kNotFound: return grpc::StatusCode::NOT_FOUND;
    case Status::Code::kCorruption: return grpc::StatusCode::DATA_LOSS;
    case Status::Code::kInvalidArgument:
      return st.reason() == Status::Reason::kInvalidRange ? grpc::StatusCode::OUT_OF_RANGE
                                                          : grpc::StatusCode::INVALID_ARGUMENT;
    case Status::Code::kIOError: return grpc::StatusCode::INTERNAL;
    case Status::Code::kUnavailable: return grpc::StatusCode::UNAVAILABLE;
    case Status::Code::kAlreadyExists: return grpc::StatusCode::ALREADY_EXISTS;
    case Status::Code::kNotSupported: return grpc::StatusCode::UNIMPLEMENTED;
    case Status::Code::kTimeout: return grpc::StatusCode::DEADLINE_EXCEEDED;
    case Status::Code::kInternal: return grpc::StatusCode::INTERNAL;
  }
  return grpc::StatusCode::UNKNOWN;
}

const char* GrpcCodeName(grpc::StatusCode c) {
  switch (c) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    default: return "UNKNOWN";
  }
}

// The gRPC answer for a handler's status; a failure is logged as one line: an error for what
// the node did wrong (INTERNAL, DATA_LOSS, UNAVAILABLE, UNKNOWN), info for the caller's
// mistakes and missing blocks.
grpc::Status Answer(grpc::ServerContext* ctx, std::string_view method, const Status& st) {
  if (st.ok()) return grpc::Status::OK;
  grpc::StatusCode code = ToGrpcCode(st);
  bool ours = code == grpc::StatusCode::INTERNAL || code == grpc::StatusCode::DATA_LOSS ||
              code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::UNKNOWN;
  if (log::Enabled(ours ? log::Level::kError : log::Level::kInfo)) {
    std::ostringstream line;
    line << "node: " << method << " from " << ctx->peer() << ": " << GrpcCodeName(code) << ": "
         << st.message();
    log::Write(ours ? log::Level::kError : log::Level::kInfo, line.str());
  }
  return grpc::Status(code, st.message());
}

// ---- services

class NodeService final : public pb::NodeAPI::Service {
 public:
  explicit NodeService(NodeCore* core) : core_(core) {}

  grpc::Status Blockstore(grpc::ServerContext* ctx, const pb::BlockstoreRequest* req,
                          pb::BlockstoreResponse* resp) override {
    return Answer(ctx, "NodeAPI.Blockstore " + pb::BSREQTYPE_Name(req->requesttype()),
                  node::Blockstore(*core_, *req, resp));
  }

  // One answer per request, in order; the first failure ends the stream with its status.
  grpc::Status BlockstoreStream(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<pb::BlockstoreResponse, pb::BlockstoreRequest>* stream) override {
    pb::BlockstoreRequest req;
    while (stream->Read(&req)) {
      pb::BlockstoreResponse resp;
      std::string method = "NodeAPI.BlockstoreStream " + pb::BSREQTYPE_Name(req.requesttype());
      Status st = node::Blockstore(*core_, req, &resp);
      if (!st.ok()) return Answer(ctx, method, st);
      if (!stream->Write(resp)) return Answer(ctx, method, Status::Unavailable("client went away"));
    }
    return grpc::Status::OK;
  }

  grpc::Status Dag(grpc::ServerContext* ctx, const pb::DagRequest* req,
                   pb::DagResponse* resp) override {
    return Answer(ctx, "NodeAPI.Dag " + pb::DAGREQTYPE_Name(req->requesttype()),
                  node::Dag(*core_, *req, resp));
  }

  grpc::Status Persist(grpc::ServerContext* ctx, const pb::PersistRequest* req,
                       pb::PersistResponse* resp) override {
    return Answer(ctx, "NodeAPI.Persist", node::Persist(*core_, *req, resp));
  }

 private:
  NodeCore* core_;
};

class FileService final : public pb::FileAPI::Service {
 public:
  explicit FileService(NodeCore* core) : core_(core) {}

  grpc::Status UploadFile(grpc::ServerContext* ctx, grpc::ServerReader<pb::UploadRequest>* reader,
                          pb::PutResponse* resp) override {
    // A cancelled stream also ends Read(): it must not count as the end of the file.
    auto next = [ctx, reader](pb::UploadRequest* msg) -> Result<bool> {
      if (reader->Read(msg)) return true;
      if (ctx->IsCancelled()) return Status::Unavailable("upload cancelled by the client");
      return false;
    };
    return Answer(ctx, "FileAPI.UploadFile", node::UploadFile(*core_, next, resp));
  }

  grpc::Status DownloadFile(grpc::ServerContext* ctx, const pb::DownloadRequest* req,
                            grpc::ServerWriter<pb::DownloadResponse>* writer) override {
    auto send = [writer](const pb::DownloadResponse& msg) { return writer->Write(msg); };
    return Answer(ctx, "FileAPI.DownloadFile", node::DownloadFile(*core_, *req, send));
  }

 private:
  NodeCore* core_;
};

class AdminService final : public pb::AdminAPI::Service {
 public:
  explicit AdminService(NodeCore* core) : core_(core) {}

  grpc::Status ManageGC(grpc::ServerContext* ctx, const pb::ManageGCRequest* req,
                        pb::ManageGCResponse* resp) override {
    return Answer(ctx, "AdminAPI.ManageGC", node::ManageGC(*core_, *req, resp));
  }

  grpc::Status RefCount(grpc::ServerContext* ctx, const pb::RefCountRequest* req,
                        pb::RefCountResponse* resp) override {
    return Answer(ctx, "AdminAPI.RefCount", node::RefCount(*core_, *req, resp));
  }

 private:
  NodeCore* core_;
};

class StatusService final : public pb::StatusAPI::Service {
 public:
  explicit StatusService(NodeCore* core) : core_(core) {}
  // The address reported as host (known only once the port is bound).
  void set_host(std::string host) {
    std::lock_guard<std::mutex> l(mu_);
    host_ = std::move(host);
  }

  grpc::Status Version(grpc::ServerContext*, const pb::Empty*, pb::VersionResponse* resp) override {
    resp->set_version("s3xfs-node " S3XFS_VERSION);
    return grpc::Status::OK;
  }

  // ONLINE, or PURGING while a garbage collection runs.
  grpc::Status Status(grpc::ServerContext*, const pb::Empty*, pb::StatusResponse* resp) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      resp->set_host(host_);
    }
    resp->set_status(core_->gc_running() ? pb::PURGING : pb::ONLINE);
    return grpc::Status::OK;
  }

 private:
  NodeCore* core_;
  std::mutex mu_;
  std::string host_;  // GUARDED_BY(mu_)
};

// ---- the server

Result<std::string> ReadFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument(std::string("cannot read the ") + what + " " + path);
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) return Status::IOError(std::string("reading the ") + what + " " + path);
  return s.str();
}

Result<std::shared_ptr<grpc::ServerCredentials>> Credentials(const NodeOptions& o) {
  if (o.tls_cert_file.empty() && o.tls_key_file.empty()) return grpc::InsecureServerCredentials();
  if (o.tls_cert_file.empty() || o.tls_key_file.empty())
    return Status::InvalidArgument("TLS needs both a certificate and a key file");
  S3XFS_ASSIGN_OR_RETURN(std::string cert, ReadFile(o.tls_cert_file, "TLS certificate"));
  S3XFS_ASSIGN_OR_RETURN(std::string key, ReadFile(o.tls_key_file, "TLS key"));
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({key, cert});
  return grpc::SslServerCredentials(ssl);
}

class NodeImpl final : public TemporalXNode {
 public:
  explicit NodeImpl(std::unique_ptr<NodeCore> core) : core_(std::move(core)) {}
  ~NodeImpl() override { Shutdown(std::chrono::milliseconds(0)); }

  Status Listen(const NodeOptions& o) {
    S3XFS_ASSIGN_OR_RETURN(auto creds, Credentials(o));
    if (o.max_receive_message == 0 || o.max_receive_message > INT_MAX)
      return Status::InvalidArgument("maximum message size must be 1.." + std::to_string(INT_MAX));
    size_t colon = o.listen.rfind(':');
    if (colon == std::string::npos || colon == 0)
      return Status::InvalidArgument("listen address \"" + o.listen + "\" is not HOST:PORT");

    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort(o.listen, creds, &port);
    builder.SetMaxReceiveMessageSize(static_cast<int>(o.max_receive_message));
    builder.SetMaxSendMessageSize(-1);  // the client's own limit decides
    grpc::ResourceQuota quota("s3xfs-node");
    quota.SetMaxThreads(kMaxServerThreads);
    builder.SetResourceQuota(quota);
    node_ = std::make_unique<NodeService>(core_.get());
    file_ = std::make_unique<FileService>(core_.get());
    admin_ = std::make_unique<AdminService>(core_.get());
    status_ = std::make_unique<StatusService>(core_.get());
    builder.RegisterService(node_.get());
    builder.RegisterService(file_.get());
    builder.RegisterService(admin_.get());
    builder.RegisterService(status_.get());
    server_ = builder.BuildAndStart();
    if (!server_ || port == 0)
      return Status::IOError("cannot listen on " + o.listen +
                             " (address in use, not local, or malformed)");
    address_ = o.listen.substr(0, colon) + ":" + std::to_string(port);
    status_->set_host(address_);
    return Status::OK();
  }

  std::string address() const override { return address_; }

  void Shutdown(std::chrono::milliseconds grace) override {
    std::lock_guard<std::mutex> l(shutdown_mu_);
    if (!server_ || stopped_) return;
    stopped_ = true;
    server_->Shutdown(std::chrono::system_clock::now() + grace);
    server_->Wait();
    core_->StopGc();
    Status st = core_->Sync();
    if (!st.ok()) S3XFS_LOG(kError) << "node: sync at shutdown failed: " << st.ToString();
  }

 private:
  // Destroyed in reverse order: the server before the services, the services before the core.
  std::unique_ptr<NodeCore> core_;
  std::unique_ptr<NodeService> node_;
  std::unique_ptr<FileService> file_;
  std::unique_ptr<AdminService> admin_;
  std::unique_ptr<StatusService> status_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  std::mutex shutdown_mu_;
  bool stopped_ = false;
};

}  // namespace

Result<std::unique_ptr<TemporalXNode>> TemporalXNode::Start(const NodeOptions& options) {
  if (options.data_dir.empty()) return Status::InvalidArgument("the node needs a data directory");
  S3XFS_ASSIGN_OR_RETURN(auto core, NodeCore::Open(options.data_dir));
  auto n = std::make_unique<NodeImpl>(std::move(core));
  S3XFS_RETURN_IF_ERROR(n->Listen(options));
  return std::unique_ptr<TemporalXNode>(std::move(n));
}

}  // namespace s3xfs
