// NodeAPI.Dag.
#include <algorithm>

#include "handlers.h"
#include "s3xfs/cas/dagpb.h"

namespace s3xfs::node {

namespace {

Result<Bytes> GetBlock(NodeCore& core, const Cid& cid, const std::string& asked) {
  auto b = core.store()->Get(cid);
  if (!b.ok() && b.status().IsNotFound()) return Status::NotFound("block " + asked + " not found");
  return b;
}

// The node of a block as its CID's codec says: dag-pb decoded; raw = data without links.
Result<PbNode> DecodeNode(const Cid& cid, ByteView block, const std::string& asked) {
  if (cid.codec() == Codec::kRaw) return PbNode{{}, Bytes(block.begin(), block.end())};
  if (cid.codec() != Codec::kDagPb)
    return Status::NotSupported(asked + ": only dag-pb and raw blocks can be read as nodes");
  auto n = DecodePbNode(block);
  if (!n.ok()) return Status::Corruption(asked + ": stored block is not dag-pb: " + n.status().message());
  return n;
}

uint64_t SumTsizes(const PbNode& n) {
  uint64_t sum = 0;
  for (const PbLink& l : n.links) sum += l.tsize.value_or(0);
  return sum;
}

// What a link to `cid` carries as Tsize: the block's size plus its links' Tsizes.
Result<uint64_t> CumulativeSize(NodeCore& core, const Cid& cid, const std::string& asked) {
  S3XFS_ASSIGN_OR_RETURN(Bytes block, GetBlock(core, cid, asked));
  if (cid.codec() != Codec::kDagPb) return static_cast<uint64_t>(block.size());
  S3XFS_ASSIGN_OR_RETURN(PbNode node, DecodeNode(cid, block, asked));
  return block.size() + SumTsizes(node);
}

Result<int> NodeCidVersion(int64_t v) {
  if (v != 0 && v != 1)
    return Status::InvalidArgument("cidVersion " + std::to_string(v) + " is not 0 or 1");
  return static_cast<int>(v);
}

// Appends one link per entry of `links` (name -> CID text) to `node`, then sorts all links by
// name (stable: equal names keep their order), as dag-pb requires.
Status AddLinks(NodeCore& core, const google::protobuf::Map<std::string, std::string>& links,
                PbNode* node) {
  // Map iteration order is unspecified: add in name order for a deterministic result.
  std::vector<std::pair<std::string, std::string>> sorted(links.begin(), links.end());
  std::sort(sorted.begin(), sorted.end());
  for (const auto& [name, text] : sorted) {
    S3XFS_ASSIGN_OR_RETURN(Cid target, ParseRequestCid(text, "links[\"" + name + "\"]"));
    S3XFS_ASSIGN_OR_RETURN(uint64_t tsize, CumulativeSize(core, target, text));
    node->links.push_back(PbLink{std::move(target), name, tsize});
  }
  std::stable_sort(node->links.begin(), node->links.end(), [](const PbLink& a, const PbLink& b) {
    return a.name.value_or("") < b.name.value_or("");
  });
  return Status::OK();
}

// Encodes, stores (one reference) and answers the node's CID.
Status StoreNode(NodeCore& core, const PbNode& node, int version, pb::DagResponse* resp) {
  Bytes bytes = EncodePbNode(node);
  Cid cid = Cid::Compute(version, Codec::kDagPb, bytes);
  BlockRef ref{cid, bytes};
  S3XFS_RETURN_IF_ERROR(core.PutCounted(std::span<const BlockRef>(&ref, 1)));
  resp->add_hashes(cid.ToString());
  return Status::OK();
}

Status DagPut(NodeCore& core, const pb::DagRequest& req, pb::DagResponse* resp) {
  S3XFS_RETURN_IF_ERROR(CheckHashFunc(req.hashfunc(), "hashFunc"));
  const std::string& enc = req.objectencoding();
  ByteView data = AsBytes(req.data());
  Cid cid;
  if (enc.empty() || enc == "raw") {
    cid = Cid::Compute(1, Codec::kRaw, data);
  } else if (enc == "protobuf") {
    const std::string& fmt = req.serializationformat();
    if (!fmt.empty() && fmt != "protobuf")
      return Status::NotSupported("serializationFormat \"" + fmt +
                                  "\" is not supported for protobuf (send the encoded node)");
    if (auto n = DecodePbNode(data); !n.ok())
      return Status::InvalidArgument("data is not a dag-pb node: " + n.status().message());
    S3XFS_ASSIGN_OR_RETURN(int version, NodeCidVersion(req.cidversion()));
    cid = Cid::Compute(version, Codec::kDagPb, data);
  } else if (enc == "cbor" || enc == "dag-cbor" || enc == "json" || enc == "dag-json") {
    return Status::NotSupported("objectEncoding \"" + enc + "\" is not supported by this node");
  } else {
    return Status::InvalidArgument("unknown objectEncoding \"" + enc +
                                   "\" (expected \"\", \"raw\" or \"protobuf\")");
  }
  BlockRef ref{cid, data};
  S3XFS_RETURN_IF_ERROR(core.PutCounted(std::span<const BlockRef>(&ref, 1)));
  resp->add_hashes(cid.ToString());
  return Status::OK();
}

Status DagGet(NodeCore& core, const pb::DagRequest& req, pb::DagResponse* resp) {
  S3XFS_ASSIGN_OR_RETURN(Cid cid, ParseRequestCid(req.hash(), "hash"));
  S3XFS_ASSIGN_OR_RETURN(Bytes block, GetBlock(core, cid, req.hash()));
  resp->set_rawdata(block.data(), block.size());
  return Status::OK();
}

Status DagNewNode(NodeCore& core, const pb::DagRequest& req, pb::DagResponse* resp) {
  S3XFS_RETURN_IF_ERROR(CheckHashFunc(req.hashfunc(), "hashFunc"));
  S3XFS_ASSIGN_OR_RETURN(int version, NodeCidVersion(req.cidversion()));
  PbNode node;
  if (!req.data().empty()) node.data = ToBytes(req.data());
  S3XFS_RETURN_IF_ERROR(AddLinks(core, req.links(), &node));
  return StoreNode(core, node, version, resp);
}

Status DagAddLinks(NodeCore& core, const pb::DagRequest& req, pb::DagResponse* resp) {
  S3XFS_ASSIGN_OR_RETURN(Cid cid, ParseRequestCid(req.hash(), "hash"));
  if (cid.codec() != Codec::kDagPb)
    return Status::InvalidArgument("hash " + req.hash() + " is not a dag-pb node");
  S3XFS_ASSIGN_OR_RETURN(Bytes block, GetBlock(core, cid, req.hash()));
  S3XFS_ASSIGN_OR_RETURN(PbNode node, DecodeNode(cid, block, req.hash()));
  S3XFS_RETURN_IF_ERROR(AddLinks(core, req.links(), &node));
  return StoreNode(core, node, cid.version(), resp);
}

Status DagGetLinks(NodeCore& core, const pb::DagRequest& req, pb::DagResponse* resp) {
  S3XFS_ASSIGN_OR_RETURN(Cid cid, ParseRequestCid(req.hash(), "hash"));
  S3XFS_ASSIGN_OR_RETURN(Bytes block, GetBlock(core, cid, req.hash()));
  S3XFS_ASSIGN_OR_RETURN(PbNode node, DecodeNode(cid, block, req.hash()));
  for (const PbLink& l : node.links) {
    pb::IPLDLink* out = resp->add_links();
    out->set_hash(l.hash.multihash().data(), l.hash.multihash().size());
    out->set_name(l.name.value_or(""));
    out->set_size(l.tsize.value_or(0));
  }
  return Status::OK();
}

Status DagStat(NodeCore& core, const pb::DagRequest& req, pb::DagResponse* resp) {
  S3XFS_ASSIGN_OR_RETURN(Cid cid, ParseRequestCid(req.hash(), "hash"));
  S3XFS_ASSIGN_OR_RETURN(Bytes block, GetBlock(core, cid, req.hash()));
  S3XFS_ASSIGN_OR_RETURN(PbNode node, DecodeNode(cid, block, req.hash()));
  pb::IPLDStat& st = (*resp->mutable_nodestats())[req.hash()];
  auto size = static_cast<int64_t>(block.size());
  auto data = static_cast<int64_t>(node.data ? node.data->size() : 0);  // raw: the whole block
  st.set_blocksize(size);
  st.set_numlinks(static_cast<int64_t>(node.links.size()));
  st.set_datasize(data);
  st.set_linksize(size - data);
  st.set_cumulativesize(size + static_cast<int64_t>(SumTsizes(node)));
  return Status::OK();
}

}  // namespace

Status Dag(NodeCore& core, const pb::DagRequest& req, pb::DagResponse* resp) {
  resp->set_requesttype(req.requesttype());
  switch (req.requesttype()) {
    case pb::DAG_PUT:
      return DagPut(core, req, resp);
    case pb::DAG_GET:
      return DagGet(core, req, resp);
    case pb::DAG_NEW_NODE:
      return DagNewNode(core, req, resp);
    case pb::DAG_ADD_LINKS:
      return DagAddLinks(core, req, resp);
    case pb::DAG_GET_LINKS:
      return DagGetLinks(core, req, resp);
    case pb::DAG_STAT:
      return DagStat(core, req, resp);
    default:
      return Status::InvalidArgument("unknown requestType " + std::to_string(req.requesttype()));
  }
}

}  // namespace s3xfs::node
