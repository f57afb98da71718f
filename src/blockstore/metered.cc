#include "s3xfs/blockstore/metered.h"

#include <array>

#include "s3xfs/base/metrics.h"

namespace s3xfs {

namespace {

enum Op { kGet, kPut, kHas, kSize, kDelete, kSync, kForEach, kHealth, kPin, kUnpin, kOps };
constexpr const char* kOpNames[kOps] = {"get", "put", "has", "size", "delete", "sync", "foreach",
                                        "health", "pin", "unpin"};

class MeteredStore final : public BlockStore {
 public:
  MeteredStore(BlockStore* inner, const std::string& name) : inner_(inner), name_(name) {
    metrics::Registry& r = metrics::Global();
    auto& ops = r.Counters("s3xfs_blockstore_operations_total",
                           "Block store operations (blocks for get and put), by store and "
                           "operation.",
                           {"store", "op"});
    for (int i = 0; i < kOps; ++i) ops_[i] = &ops.With({name, kOpNames[i]});
    errors_ = &r.Counters("s3xfs_blockstore_errors_total",
                          "Failed block store operations, by store, operation and kind.",
                          {"store", "op", "kind"});
    read_ = &r.Counters("s3xfs_blockstore_read_bytes_total",
                        "Bytes of blocks read from a block store.", {"store"})
                 .With({name});
    written_ = &r.Counters("s3xfs_blockstore_written_bytes_total",
                           "Bytes of blocks written to a block store.", {"store"})
                    .With({name});
  }

  Status Put(const Cid& cid, ByteView data) override {
    Status st = inner_->Put(cid, data);
    Count(kPut, st, 1);
    if (st.ok()) written_->Inc(data.size());
    return st;
  }
  Status PutMany(std::span<const BlockRef> blocks) override {
    return CountPuts(blocks, inner_->PutMany(blocks));
  }
  Status PutManyUnsynced(std::span<const BlockRef> blocks) override {
    return CountPuts(blocks, inner_->PutManyUnsynced(blocks));
  }
  Status SyncBlocks(std::span<const Cid> cids) override {
    Status st = inner_->SyncBlocks(cids);
    Count(kSync, st, 1);
    return st;
  }
  Result<Bytes> Get(const Cid& cid) override {
    Result<Bytes> r = inner_->Get(cid);
    Count(kGet, r.status(), 1);
    if (r.ok()) read_->Inc(r->size());
    return r;
  }
  std::vector<Result<Bytes>> GetMany(std::span<const Cid> cids) override {
    std::vector<Result<Bytes>> out = inner_->GetMany(cids);
    ops_[kGet]->Inc(out.size());
    uint64_t n = 0;
    for (const Result<Bytes>& r : out) {
      if (r.ok()) n += r->size();
      else Error(kGet, r.status());
    }
    read_->Inc(n);
    return out;
  }
  Result<bool> Has(const Cid& cid) override {
    Result<bool> r = inner_->Has(cid);
    Count(kHas, r.status(), 1);
    return r;
  }
  Result<uint64_t> Size(const Cid& cid) override {
    Result<uint64_t> r = inner_->Size(cid);
    Count(kSize, r.status(), 1);
    return r;
  }
  Status Delete(const Cid& cid) override {
    Status st = inner_->Delete(cid);
    Count(kDelete, st, 1);
    return st;
  }
  Status Sync() override {
    Status st = inner_->Sync();
    Count(kSync, st, 1);
    return st;
  }
  Status ForEach(const std::function<Status(const Cid&)>& fn) override {
    Status st = inner_->ForEach(fn);
    Count(kForEach, st, 1);
    return st;
  }
  std::string Describe() const override { return inner_->Describe(); }
  Status Health() override {
    Status st = inner_->Health();
    Count(kHealth, st, 1);
    return st;
  }
  bool pins_roots() const override { return inner_->pins_roots(); }
  Status PinRoot(const Cid& root, const std::optional<Cid>& replaces) override {
    Status st = inner_->PinRoot(root, replaces);
    Count(kPin, st, 1);
    return st;
  }
  Status UnpinRoot(const Cid& root) override {
    Status st = inner_->UnpinRoot(root);
    Count(kUnpin, st, 1);
    return st;
  }

 private:
  void Count(Op op, const Status& st, uint64_t n) {
    ops_[op]->Inc(n);
    if (!st.ok()) Error(op, st);
  }
  // A put of `blocks` that returned `st`: counted, and its bytes when it succeeded.
  Status CountPuts(std::span<const BlockRef> blocks, Status st) {
    Count(kPut, st, blocks.size());
    if (st.ok()) {
      uint64_t n = 0;
      for (const BlockRef& b : blocks) n += b.data.size();
      written_->Inc(n);
    }
    return st;
  }
  void Error(Op op, const Status& st) {
    errors_->With({name_, kOpNames[op], ErrorKind(st)}).Inc();
  }

  BlockStore* inner_;
  const std::string name_;
  std::array<metrics::Counter*, kOps> ops_;
  metrics::CounterFamily* errors_;
  metrics::Counter* read_;
  metrics::Counter* written_;
};

}  // namespace

std::unique_ptr<BlockStore> NewMeteredStore(BlockStore* inner, const std::string& name) {
  return std::make_unique<MeteredStore>(inner, name);
}

const char* ErrorKind(const Status& st) {
  switch (st.code()) {
    case Status::Code::kOk: return "ok";
    case Status::Code::kNotFound: return "not_found";
    case Status::Code::kCorruption: return "corruption";
    case Status::Code::kInvalidArgument: return "invalid_argument";
    case Status::Code::kIOError: return "io";
    case Status::Code::kUnavailable: return "unavailable";
    case Status::Code::kAlreadyExists: return "already_exists";
    case Status::Code::kNotSupported: return "not_supported";
    case Status::Code::kTimeout: return "timeout";
    case Status::Code::kInternal: return "internal";
  }
  return "internal";
}

}  // namespace s3xfs
