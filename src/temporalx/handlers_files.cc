// FileAPI.UploadFile and DownloadFile.
#include <algorithm>
#include <charconv>

#include "handlers.h"
#include "s3xfs/cas/dag_builder.h"
#include "s3xfs/cas/dag_reader.h"

namespace s3xfs::node {

namespace {

constexpr size_t kDefaultChunk = 262144;        // chunker "default" (Kubo's size-262144)
constexpr size_t kMaxChunk = 1u << 20;          // largest size-N accepted
constexpr size_t kStageBytes = 4u << 20;        // blocks stored per PutMany during an upload
constexpr size_t kDefaultDownloadPiece = 1u << 20;
constexpr size_t kMaxDownloadPiece = 2u << 20;  // well under any client's 4 MiB receive limit

Result<size_t> ParseChunker(const std::string& chunker) {
  if (chunker.empty() || chunker == "default") return kDefaultChunk;
  if (chunker.rfind("size-", 0) == 0) {
    std::string_view digits = std::string_view(chunker).substr(5);
    size_t n = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || n < 1 ||
        n > kMaxChunk)
      return Status::InvalidArgument("chunker \"" + chunker + "\": size-N needs 1 <= N <= " +
                                     std::to_string(kMaxChunk));
    return n;
  }
  if (chunker.rfind("rabin", 0) == 0 || chunker.rfind("buzhash", 0) == 0)
    return Status::NotSupported("chunker \"" + chunker +
                                "\" is not supported (use \"default\" or \"size-N\")");
  return Status::InvalidArgument("unknown chunker \"" + chunker +
                                 "\" (expected \"default\" or \"size-N\")");
}

Result<DagOptions> UploadDagOptions(const pb::UploadOptions& o) {
  if (!o.layout().empty() && o.layout() != "balanced") {
    if (o.layout() == "trickle")
      return Status::NotSupported("layout \"trickle\" is not supported (use \"balanced\")");
    return Status::InvalidArgument("unknown layout \"" + o.layout() + "\" (expected \"balanced\")");
  }
  S3XFS_RETURN_IF_ERROR(CheckHashFunc(o.multihash(), "multiHash"));
  S3XFS_ASSIGN_OR_RETURN(size_t chunk, ParseChunker(o.chunker()));
  DagOptions d = DagOptions::V1DagPbLeaves();
  d.chunk_size = chunk;
  return d;
}

// Collects the builder's blocks and stages them in batches of about kStageBytes.
class Stager {
 public:
  explicit Stager(NodeCore::Upload* upload) : upload_(upload) {}

  Status Add(const Cid& cid, ByteView data) {
    blocks_.push_back(Block{cid, Bytes(data.begin(), data.end())});
    bytes_ += data.size();
    return bytes_ >= kStageBytes ? Flush() : Status::OK();
  }

  Status Flush() {
    std::vector<BlockRef> refs;
    refs.reserve(blocks_.size());
    for (const Block& b : blocks_) refs.push_back(BlockRef{b.cid, b.data});
    Status st = upload_->Stage(refs);
    blocks_.clear();
    bytes_ = 0;
    return st;
  }

 private:
  NodeCore::Upload* upload_;
  std::vector<Block> blocks_;
  size_t bytes_ = 0;
};

}  // namespace

Status UploadFile(NodeCore& core, const std::function<Result<bool>(pb::UploadRequest*)>& next,
                  pb::PutResponse* resp) {
  pb::UploadRequest msg;
  S3XFS_ASSIGN_OR_RETURN(bool have, next(&msg));
  S3XFS_ASSIGN_OR_RETURN(DagOptions options, UploadDagOptions(msg.options()));

  NodeCore::Upload upload(&core);
  Stager stager(&upload);
  DagBuilder builder(options, [&stager](const Cid& cid, ByteView data, bool) {
    return stager.Add(cid, data);
  });
  // Options in later messages are ignored, as TemporalX documents them for the first only.
  while (have) {
    S3XFS_RETURN_IF_ERROR(builder.Write(AsBytes(msg.blob().content())));
    S3XFS_ASSIGN_OR_RETURN(have, next(&msg));
  }
  S3XFS_ASSIGN_OR_RETURN(DagRoot root, builder.Finish());
  S3XFS_RETURN_IF_ERROR(stager.Flush());
  S3XFS_RETURN_IF_ERROR(upload.Commit());
  resp->set_hash(root.cid.ToString());
  return Status::OK();
}

Status DownloadFile(NodeCore& core, const pb::DownloadRequest& req,
                    const std::function<bool(const pb::DownloadResponse&)>& send) {
  S3XFS_ASSIGN_OR_RETURN(Cid root, ParseRequestCid(req.hash(), "hash"));
  size_t piece = req.chunksize() <= 0
                     ? kDefaultDownloadPiece
                     : std::min(static_cast<size_t>(req.chunksize()), kMaxDownloadPiece);
  DagReader reader(core.store());
  auto size = reader.FileSize(root);
  if (!size.ok() && size.status().IsNotFound())
    return Status::NotFound("block " + req.hash() + " not found");
  if (!size.ok()) return size.status();
  uint64_t start = req.rangestart();
  uint64_t end = req.rangeend() == 0 ? *size : std::min<uint64_t>(req.rangeend(), *size);
  if (start > *size)
    return Status::InvalidArgument("rangeStart " + std::to_string(start) + " is past the end of " +
                                   req.hash() + " (" + std::to_string(*size) + " bytes)")
        .With(Status::Reason::kInvalidRange);
  if (req.rangeend() != 0 && req.rangeend() < start)
    return Status::InvalidArgument("rangeEnd " + std::to_string(req.rangeend()) +
                                   " is before rangeStart " + std::to_string(start));

  pb::DownloadResponse out;
  std::string* content = out.mutable_blob()->mutable_content();
  content->reserve(piece);
  uint64_t pos = start;  // file offset of content's first byte
  auto flush = [&]() -> Status {
    if (content->empty()) return Status::OK();
    out.mutable_blob()->set_rangestart(pos);
    out.mutable_blob()->set_rangeend(pos + content->size());
    if (!send(out)) return Status::Unavailable("download of " + req.hash() + ": client went away");
    pos += content->size();
    content->clear();
    return Status::OK();
  };
  S3XFS_RETURN_IF_ERROR(reader.Read(root, start, end - start, [&](ByteView bytes) -> Status {
    while (!bytes.empty()) {
      size_t n = std::min(bytes.size(), piece - content->size());
      content->append(AsChars(bytes.first(n)));
      bytes = bytes.subspan(n);
      if (content->size() == piece) S3XFS_RETURN_IF_ERROR(flush());
    }
    return Status::OK();
  }));
  return flush();
}

}  // namespace s3xfs::node
