// TemporalX v3 gRPC client block store (contract in include/s3xfs/temporalx/client.h).
#include "s3xfs/temporalx/client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <fstream>
#include <future>
#include <semaphore>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "s3xfs/base/parallel.h"
#include "temporalx.grpc.pb.h"

namespace s3xfs {

namespace {

constexpr size_t kFraming = 64u << 10;   // room for message framing inside the node's limit
constexpr size_t kGetBatch = 8;          // CIDs per BS_GET_MANY (blocks are <= 1 MiB)
constexpr int kMaxReceive = 64 << 20;    // what we accept from the node

std::string MhKey(ByteView mh) { return std::string(mh.begin(), mh.end()); }

bool Retryable(grpc::StatusCode c) {
  return c == grpc::StatusCode::UNAVAILABLE || c == grpc::StatusCode::DEADLINE_EXCEEDED ||
         c == grpc::StatusCode::ABORTED;
}

class TemporalXStore final : public BlockStore {
 public:
  TemporalXStore(TemporalXOptions opt, std::shared_ptr<grpc::Channel> channel)
      : opt_(std::move(opt)),
        node_(pb::NodeAPI::NewStub(channel)),
        status_(pb::StatusAPI::NewStub(channel)),
        slots_(static_cast<std::ptrdiff_t>(std::max(1u, opt_.max_inflight) * 2)) {}

  Status Put(const Cid& cid, ByteView data) override {
    BlockRef one{cid, data};
    return PutMany(std::span<const BlockRef>(&one, 1));
  }

  Status PutMany(std::span<const BlockRef> blocks) override {
    // Raw (and any non-dag-pb) blocks in BS_PUT_MANY batches under the message limit; dag-pb
    // nodes one DAG_PUT each.
    const size_t limit = opt_.max_message > 2 * kFraming ? opt_.max_message - kFraming : kFraming;
    std::vector<std::function<Status()>> jobs;
    std::vector<size_t> batch;
    size_t batch_bytes = 0;
    auto close_batch = [&] {
      if (batch.empty()) return;
      jobs.push_back([this, blocks, idx = std::move(batch)] { return PutRaw(blocks, idx); });
      batch.clear();
      batch_bytes = 0;
    };
    for (size_t i = 0; i < blocks.size(); ++i) {
      const BlockRef& b = blocks[i];
      if (b.data.size() + 16 > limit)
        return Status::InvalidArgument("block " + b.cid.ToString() + " (" +
                                       std::to_string(b.data.size()) +
                                       " bytes) exceeds the node's message limit");
      if (b.cid.codec() == Codec::kDagPb) {
        jobs.push_back([this, &b] { return PutDagPb(b); });
        continue;
      }
      if (batch_bytes + b.data.size() + 16 > limit) close_batch();
      batch.push_back(i);
      batch_bytes += b.data.size() + 16;
    }
    close_batch();
    return RunAll(jobs);
  }

  Result<Bytes> Get(const Cid& cid) override {
    auto r = GetMany(std::span<const Cid>(&cid, 1));
    return std::move(r[0]);
  }

  std::vector<Result<Bytes>> GetMany(std::span<const Cid> cids) override {
    std::vector<Result<Bytes>> out(cids.size(), Result<Bytes>(Status::Internal("not fetched")));
    std::vector<std::function<Status()>> jobs;
    for (size_t at = 0; at < cids.size(); at += kGetBatch) {
      size_t n = std::min(kGetBatch, cids.size() - at);
      jobs.push_back([this, cids, at, n, &out] {
        FetchBatch(cids.subspan(at, n), std::span<Result<Bytes>>(out).subspan(at, n));
        return Status::OK();
      });
    }
    (void)RunAll(jobs);
    return out;
  }

  Result<bool> Has(const Cid& cid) override {
    pb::BlockstoreRequest req;
    req.set_requesttype(pb::BS_HAS);
    req.add_cids(cid.ToString());
    pb::BlockstoreResponse resp;
    Status st = Call("BS_HAS " + cid.ToString(), [&](grpc::ClientContext* ctx) {
      return node_->Blockstore(ctx, req, &resp);
    });
    if (st.code() == Status::Code::kNotFound) return false;
    S3XFS_RETURN_IF_ERROR(st);
    for (const pb::Block& b : resp.blocks()) {
      auto c = Cid::Parse(b.cid());
      if (c.ok() && std::ranges::equal(c->multihash(), cid.multihash())) return true;
    }
    return false;
  }

  Result<uint64_t> Size(const Cid& cid) override {
    pb::BlockstoreRequest req;
    req.set_requesttype(pb::BS_GET_STATS);
    req.add_cids(cid.ToString());
    pb::BlockstoreResponse resp;
    S3XFS_RETURN_IF_ERROR(Call("BS_GET_STATS " + cid.ToString(), [&](grpc::ClientContext* ctx) {
      return node_->Blockstore(ctx, req, &resp);
    }));
    if (resp.blocks_size() < 1) return Status::NotFound("block " + cid.ToString());
    return static_cast<uint64_t>(resp.blocks(0).size());
  }

  Status Delete(const Cid& cid) override {
    pb::BlockstoreRequest req;
    req.set_requesttype(pb::BS_DELETE);
    req.add_cids(cid.ToString());
    pb::BlockstoreResponse resp;
    Status st = Call("BS_DELETE " + cid.ToString(), [&](grpc::ClientContext* ctx) {
      return node_->Blockstore(ctx, req, &resp);
    });
    if (st.code() == Status::Code::kNotFound) return Status::OK();
    return st;
  }

  Status Sync() override { return Status::OK(); }

  Status ForEach(const std::function<Status(const Cid&)>&) override {
    return Status::NotSupported("the TemporalX API cannot enumerate a node's blocks");
  }

  std::string Describe() const override {
    return std::string(opt_.tls ? "temporalxs://" : "temporalx://") + opt_.target;
  }

  Status Health() override {
    pb::Empty req;
    pb::StatusResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    grpc::Status s = status_->Status(&ctx, req, &resp);
    if (!s.ok()) return ToStatus("StatusAPI.Status", s);
    if (resp.status() == pb::ERROR)
      return Status::Unavailable(Describe() + " reports status ERROR (host " + resp.host() + ")");
    return Status::OK();
  }

 private:
  Status ToStatus(const std::string& what, const grpc::Status& s) const {
    std::string msg = Describe() + ": " + what + ": " + s.error_message();
    switch (s.error_code()) {
      case grpc::StatusCode::NOT_FOUND: return Status::NotFound(msg);
      case grpc::StatusCode::DATA_LOSS: return Status::Corruption(msg);
      case grpc::StatusCode::DEADLINE_EXCEEDED: return Status::Timeout(msg);
      case grpc::StatusCode::UNIMPLEMENTED: return Status::NotSupported(msg);
      case grpc::StatusCode::UNAVAILABLE:
      case grpc::StatusCode::ABORTED:
      case grpc::StatusCode::RESOURCE_EXHAUSTED:
      case grpc::StatusCode::CANCELLED: return Status::Unavailable(msg);
      case grpc::StatusCode::INVALID_ARGUMENT:
      case grpc::StatusCode::OUT_OF_RANGE: return Status::InvalidArgument(msg);
      default: return Status::Internal(msg);
    }
  }

  // One RPC with a deadline, retried with doubling backoff while the failure is transient. At
  // most slots_ RPCs of this store run at once.
  template <typename Fn>
  Status Call(const std::string& what, Fn&& rpc) {
    auto delay = opt_.backoff;
    for (int attempt = 1;; ++attempt) {
      grpc::Status s;
      {
        slots_.acquire();
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + opt_.call_timeout);
        s = rpc(&ctx);
        slots_.release();
      }
      if (s.ok()) return Status::OK();
      if (!Retryable(s.error_code()) || attempt >= std::max(1, opt_.attempts))
        return ToStatus(what, s);
      std::this_thread::sleep_for(delay);
      delay = std::min(delay * 2, std::chrono::milliseconds(5000));
    }
  }

  // Runs the jobs at most max_inflight at a time; returns the first error (all jobs finish).
  Status RunAll(const std::vector<std::function<Status()>>& jobs) {
    return RunEach(jobs.size(), std::max(1u, opt_.max_inflight), [&](size_t i) { return jobs[i](); });
  }

  Status PutRaw(std::span<const BlockRef> blocks, const std::vector<size_t>& idx) {
    pb::BlockstoreRequest req;
    req.set_requesttype(pb::BS_PUT_MANY);
    req.set_cidversion("v1");
    req.set_hashfunc("sha2-256");
    for (size_t i : idx) req.add_data(blocks[i].data.data(), blocks[i].data.size());
    pb::BlockstoreResponse resp;
    S3XFS_RETURN_IF_ERROR(Call("BS_PUT_MANY of " + std::to_string(idx.size()) + " blocks",
        [&](grpc::ClientContext* ctx) { return node_->Blockstore(ctx, req, &resp); }));
    if (static_cast<size_t>(resp.blocks_size()) != idx.size())
      return Status::Corruption(Describe() + ": BS_PUT_MANY of " + std::to_string(idx.size()) +
                                " blocks answered " + std::to_string(resp.blocks_size()) + " CIDs");
    for (size_t k = 0; k < idx.size(); ++k)
      S3XFS_RETURN_IF_ERROR(CheckCid("BS_PUT_MANY", blocks[idx[k]].cid, resp.blocks(static_cast<int>(k)).cid()));
    return Status::OK();
  }

  Status PutDagPb(const BlockRef& b) {
    pb::DagRequest req;
    req.set_requesttype(pb::DAG_PUT);
    req.set_data(b.data.data(), b.data.size());
    req.set_objectencoding("protobuf");
    req.set_serializationformat("protobuf");
    req.set_hashfunc("sha2-256");
    req.set_cidversion(1);
    pb::DagResponse resp;
    S3XFS_RETURN_IF_ERROR(Call("DAG_PUT " + b.cid.ToString(),
        [&](grpc::ClientContext* ctx) { return node_->Dag(ctx, req, &resp); }));
    if (resp.hashes_size() < 1)
      return Status::Corruption(Describe() + ": DAG_PUT of " + b.cid.ToString() + " answered no CID");
    return CheckCid("DAG_PUT", b.cid, resp.hashes(0));
  }

  // The node's CID for a block must name the same bytes (same multihash) as ours.
  Status CheckCid(const char* what, const Cid& want, const std::string& got_text) const {
    auto got = Cid::Parse(got_text);
    if (!got.ok() || !std::ranges::equal(got->multihash(), want.multihash()))
      return Status::Corruption(Describe() + ": " + what + " stored " + want.ToString() +
                                " as \"" + got_text + "\" (CID mismatch)");
    return Status::OK();
  }

  void FetchBatch(std::span<const Cid> cids, std::span<Result<Bytes>> out) {
    pb::BlockstoreRequest req;
    req.set_requesttype(cids.size() == 1 ? pb::BS_GET : pb::BS_GET_MANY);
    for (const Cid& c : cids) req.add_cids(c.ToString());
    pb::BlockstoreResponse resp;
    Status st = Call(std::string(cids.size() == 1 ? "BS_GET " : "BS_GET_MANY ") + cids[0].ToString() +
                         (cids.size() > 1 ? " and " + std::to_string(cids.size() - 1) + " more" : ""),
                     [&](grpc::ClientContext* ctx) { return node_->Blockstore(ctx, req, &resp); });
    if (!st.ok() && st.code() == Status::Code::kNotFound && cids.size() > 1) {
      // One missing block fails the whole batch: ask for each, so the others still arrive.
      for (size_t i = 0; i < cids.size(); ++i) FetchBatch(cids.subspan(i, 1), out.subspan(i, 1));
      return;
    }
    if (!st.ok()) {
      for (auto& r : out) r = st;
      return;
    }
    std::unordered_map<std::string, pb::Block*> by_mh;
    for (pb::Block& b : *resp.mutable_blocks()) {
      auto c = Cid::Parse(b.cid());
      if (c.ok()) by_mh[MhKey(c->multihash())] = &b;
    }
    for (size_t i = 0; i < cids.size(); ++i) {
      auto it = by_mh.find(MhKey(cids[i].multihash()));
      if (it == by_mh.end()) {
        out[i] = Status::NotFound(Describe() + ": block " + cids[i].ToString() + " not on the node");
        continue;
      }
      const std::string& d = it->second->data();
      Bytes data(d.begin(), d.end());
      Status v = cids[i].Verify(data);
      if (!v.ok())
        out[i] = Status::Corruption(Describe() + " sent bad bytes for " + cids[i].ToString());
      else
        out[i] = std::move(data);
    }
  }

  const TemporalXOptions opt_;
  std::unique_ptr<pb::NodeAPI::Stub> node_;
  std::unique_ptr<pb::StatusAPI::Stub> status_;
  std::counting_semaphore<1024> slots_;
};

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IOError("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

Result<TemporalXOptions> ParseTemporalXUrl(const std::string& url) {
  TemporalXOptions o;
  std::string rest;
  if (url.rfind("temporalx://", 0) == 0) {
    rest = url.substr(12);
  } else if (url.rfind("temporalxs://", 0) == 0) {
    rest = url.substr(13);
    o.tls = true;
  } else {
    return Status::InvalidArgument("not a TemporalX URL (temporalx://HOST:PORT): " + url);
  }
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  size_t colon = rest.rfind(':');
  if (rest.empty() || colon == std::string::npos || colon == 0 || colon + 1 == rest.size() ||
      rest.find('/') != std::string::npos ||
      rest.find_first_not_of("0123456789", colon + 1) != std::string::npos)
    return Status::InvalidArgument("TemporalX URL needs HOST:PORT: " + url);
  o.target = rest;
  return o;
}

Result<std::unique_ptr<BlockStore>> OpenTemporalXStore(const TemporalXOptions& options) {
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (options.tls) {
    grpc::SslCredentialsOptions ssl;
    if (!options.tls_ca_file.empty()) {
      S3XFS_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadFile(options.tls_ca_file));
    }
    creds = grpc::SslCredentials(ssl);
  } else {
    creds = grpc::InsecureChannelCredentials();
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxReceive);
  args.SetMaxSendMessageSize(static_cast<int>(options.max_message));
  // Reconnect soon after a node comes back (gRPC's default backoff grows to two minutes).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  auto channel = grpc::CreateCustomChannel(options.target, creds, args);
  return std::unique_ptr<BlockStore>(new TemporalXStore(options, std::move(channel)));
}

}  // namespace s3xfs
