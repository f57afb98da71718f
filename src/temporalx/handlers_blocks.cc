// NodeAPI.Blockstore and Persist, AdminAPI.RefCount and ManageGC.
#include <algorithm>

#include "handlers.h"

namespace s3xfs::node {

Result<Cid> ParseRequestCid(std::string_view text, std::string_view field) {
  if (text.empty()) return Status::InvalidArgument(std::string(field) + ": empty CID");
  auto c = Cid::Parse(text);
  if (!c.ok())
    return Status::InvalidArgument(std::string(field) + ": not a CID: \"" + std::string(text) +
                                   "\" (" + c.status().message() + ")");
  return c;
}

Status CheckHashFunc(std::string_view name, std::string_view field) {
  if (name.empty() || name == "sha2-256") return Status::OK();
  return Status::InvalidArgument(std::string(field) + " \"" + std::string(name) +
                                 "\" is not supported (only sha2-256)");
}

namespace {

Result<std::vector<Cid>> ParseCids(const google::protobuf::RepeatedPtrField<std::string>& texts) {
  std::vector<Cid> cids;
  cids.reserve(texts.size());
  for (const std::string& t : texts) {
    S3XFS_ASSIGN_OR_RETURN(Cid c, ParseRequestCid(t, "cids"));
    cids.push_back(std::move(c));
  }
  return cids;
}

// The store's NotFound names its directory; clients get the CID as they wrote it.
Status BlockError(const Status& st, const std::string& asked) {
  if (st.IsNotFound()) return Status::NotFound("block " + asked + " not found");
  return st;
}

Status Put(NodeCore& core, const pb::BlockstoreRequest& req, pb::BlockstoreResponse* resp) {
  if (req.requesttype() == pb::BS_PUT && req.data_size() != 1)
    return Status::InvalidArgument("BS_PUT takes exactly one data entry (got " +
                                   std::to_string(req.data_size()) + "); use BS_PUT_MANY");
  S3XFS_RETURN_IF_ERROR(CheckHashFunc(req.hashfunc(), "hashFunc"));
  const std::string& v = req.cidversion();
  if (v == "v0" || v == "0")
    return Status::InvalidArgument("cidVersion v0 cannot name raw blocks; use v1");
  if (!v.empty() && v != "v1" && v != "1")
    return Status::InvalidArgument("cidVersion \"" + v + "\" is not v1");
  std::vector<BlockRef> blocks;
  blocks.reserve(req.data_size());
  for (const std::string& d : req.data()) {
    ByteView bytes = AsBytes(d);
    blocks.push_back(BlockRef{Cid::Compute(1, Codec::kRaw, bytes), bytes});
  }
  S3XFS_RETURN_IF_ERROR(core.PutCounted(blocks));
  for (const BlockRef& b : blocks) resp->add_blocks()->set_cid(b.cid.ToString());
  return Status::OK();
}

Status Delete(NodeCore& core, const pb::BlockstoreRequest& req) {
  S3XFS_ASSIGN_OR_RETURN(std::vector<Cid> cids, ParseCids(req.cids()));
  bool force = std::find(req.reqopts().begin(), req.reqopts().end(), pb::BS_FORCE) !=
               req.reqopts().end();
  return core.Release(cids, force);
}

Status Get(NodeCore& core, const pb::BlockstoreRequest& req, pb::BlockstoreResponse* resp) {
  if (req.requesttype() == pb::BS_GET && req.cids_size() != 1)
    return Status::InvalidArgument("BS_GET takes exactly one CID (got " +
                                   std::to_string(req.cids_size()) + "); use BS_GET_MANY");
  S3XFS_ASSIGN_OR_RETURN(std::vector<Cid> cids, ParseCids(req.cids()));
  std::vector<Result<Bytes>> got = core.store()->GetMany(cids);
  for (size_t i = 0; i < got.size(); ++i) {
    if (!got[i].ok()) return BlockError(got[i].status(), req.cids(static_cast<int>(i)));
    pb::Block* b = resp->add_blocks();
    b->set_cid(req.cids(static_cast<int>(i)));
    b->set_size(static_cast<int64_t>(got[i]->size()));
    b->set_data(got[i]->data(), got[i]->size());
  }
  return Status::OK();
}

Status Stats(NodeCore& core, const pb::BlockstoreRequest& req, pb::BlockstoreResponse* resp) {
  S3XFS_ASSIGN_OR_RETURN(std::vector<Cid> cids, ParseCids(req.cids()));
  for (size_t i = 0; i < cids.size(); ++i) {
    const std::string& asked = req.cids(static_cast<int>(i));
    auto size = core.store()->Size(cids[i]);
    if (!size.ok()) return BlockError(size.status(), asked);
    pb::Block* b = resp->add_blocks();
    b->set_cid(asked);
    b->set_size(static_cast<int64_t>(*size));
  }
  return Status::OK();
}

Status Has(NodeCore& core, const pb::BlockstoreRequest& req, pb::BlockstoreResponse* resp) {
  S3XFS_ASSIGN_OR_RETURN(std::vector<Cid> cids, ParseCids(req.cids()));
  for (size_t i = 0; i < cids.size(); ++i) {
    S3XFS_ASSIGN_OR_RETURN(bool present, core.store()->Has(cids[i]));
    if (present) resp->add_blocks()->set_cid(req.cids(static_cast<int>(i)));
  }
  return Status::OK();
}

Status All(NodeCore& core, pb::BlockstoreResponse* resp) {
  return core.store()->ForEach([resp](const Cid& c) {
    resp->add_blocks()->set_cid(c.ToString());
    return Status::OK();
  });
}

}  // namespace

Status Blockstore(NodeCore& core, const pb::BlockstoreRequest& req, pb::BlockstoreResponse* resp) {
  resp->set_requesttype(req.requesttype());
  switch (req.requesttype()) {
    case pb::BS_PUT:
    case pb::BS_PUT_MANY:
      return Put(core, req, resp);
    case pb::BS_DELETE:
      return Delete(core, req);
    case pb::BS_GET:
    case pb::BS_GET_MANY:
      return Get(core, req, resp);
    case pb::BS_GET_STATS:
      return Stats(core, req, resp);
    case pb::BS_HAS:
      return Has(core, req, resp);
    case pb::BS_GET_ALL:
      return All(core, resp);
    case pb::BS_HASH_ON_READ_ENABLE:
    case pb::BS_HASH_ON_READ_DISABLE:
      return Status::OK();  // every read verifies anyway
    default:
      return Status::InvalidArgument("unknown requestType " + std::to_string(req.requesttype()));
  }
}

Status Persist(NodeCore& core, const pb::PersistRequest& req, pb::PersistResponse* resp) {
  for (const std::string& text : req.cids()) {
    auto cid = ParseRequestCid(text, "cids");
    if (!cid.ok()) {
      (*resp->mutable_errors())[text] = cid.status().message();
      continue;
    }
    auto present = core.store()->Has(*cid);
    if (!present.ok()) {
      (*resp->mutable_errors())[text] = present.status().ToString();
      continue;
    }
    (*resp->mutable_status())[text] = *present;
  }
  return Status::OK();
}

Status RefCount(NodeCore& core, const pb::RefCountRequest& req, pb::RefCountResponse* resp) {
  auto& out = *resp->mutable_cids();
  if (req.cids_size() == 0) {
    S3XFS_ASSIGN_OR_RETURN(auto rows, core.refs()->All(req.limit()));
    for (auto& [mh, count] : rows) out[Cid::V1(Codec::kRaw, mh).ToString()] = count;
    return Status::OK();
  }
  S3XFS_ASSIGN_OR_RETURN(std::vector<Cid> cids, ParseCids(req.cids()));
  std::vector<Bytes> mhs;
  mhs.reserve(cids.size());
  for (const Cid& c : cids) mhs.emplace_back(c.multihash().begin(), c.multihash().end());
  S3XFS_ASSIGN_OR_RETURN(std::vector<int64_t> counts, core.refs()->GetMany(mhs));
  for (size_t i = 0; i < counts.size(); ++i) out[req.cids(static_cast<int>(i))] = counts[i];
  return Status::OK();
}

Status ManageGC(NodeCore& core, const pb::ManageGCRequest& req, pb::ManageGCResponse* resp) {
  switch (req.type()) {
    case pb::GC_START:
      resp->set_status(core.StartGc());
      return Status::OK();
    case pb::GC_STOP:
      resp->set_status(core.StopGc());
      return Status::OK();
    case pb::GC_STATUS:
      resp->set_status(core.GcStatus());
      return Status::OK();
    default:
      return Status::InvalidArgument("unknown GC request type " + std::to_string(req.type()));
  }
}

}  // namespace s3xfs::node
