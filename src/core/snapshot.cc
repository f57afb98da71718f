// Bucket snapshots (a UnixFS tree plus a manifest with the metadata) and restoring a bucket
// from one. Formats: docs/FORMATS.md "Snapshots".
#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "keys.h"
#include "object_store_impl.h"
#include "s3xfs/base/log.h"
#include "s3xfs/base/json.h"
#include "s3xfs/cas/dag_reader.h"
#include "s3xfs/cas/dagpb.h"
#include "s3xfs/cas/directory.h"
#include "s3xfs/cas/unixfs.h"

namespace s3xfs {

namespace {

using Reason = Status::Reason;

constexpr char kMetaName[] = "meta.jsonl";
constexpr char kTreeName[] = "tree";
constexpr char kOtherName[] = "other";
constexpr int64_t kFormatVersion = 1;
constexpr size_t kScanBatch = 1000;

const char* KindName(InodeKind k) {
  switch (k) {
    case InodeKind::kFile: return "file";
    case InodeKind::kDirectory: return "dir";
    case InodeKind::kSymlink: return "symlink";
    case InodeKind::kFifo: return "fifo";
    case InodeKind::kCharDevice: return "char";
    case InodeKind::kBlockDevice: return "block";
    case InodeKind::kSocket: return "socket";
  }
  return "file";
}

std::optional<InodeKind> KindFromName(const std::string& n) {
  for (InodeKind k : {InodeKind::kFile, InodeKind::kDirectory, InodeKind::kSymlink,
                      InodeKind::kFifo, InodeKind::kCharDevice, InodeKind::kBlockDevice,
                      InodeKind::kSocket})
    if (n == KindName(k)) return k;
  return std::nullopt;
}

// "" or "a/b/" from "", "a/b" or "a/b/".
std::string NormalizePrefix(std::string p) {
  while (!p.empty() && p.front() == '/') p.erase(p.begin());
  if (!p.empty() && p.back() != '/') p += '/';
  return p;
}

Json AttrsJson(const PosixAttrs& a) {
  Json j = Json::MakeObject();
  j.Set("mode", static_cast<int64_t>(a.mode)).Set("uid", static_cast<int64_t>(a.uid))
      .Set("gid", static_cast<int64_t>(a.gid)).Set("atime_ns", a.atime_ns)
      .Set("mtime_ns", a.mtime_ns).Set("ctime_ns", a.ctime_ns).Set("btime_ns", a.btime_ns);
  if (a.rdev) j.Set("rdev", static_cast<int64_t>(a.rdev));
  return j;
}

PosixAttrs AttrsFromJson(const Json& j, uint32_t default_mode) {
  PosixAttrs a;
  a.mode = static_cast<uint32_t>(j["mode"].int_or(default_mode));
  a.uid = static_cast<uint32_t>(j["uid"].int_or(0));
  a.gid = static_cast<uint32_t>(j["gid"].int_or(0));
  a.rdev = static_cast<uint64_t>(j["rdev"].int_or(0));
  a.atime_ns = j["atime_ns"].int_or(0);
  a.mtime_ns = j["mtime_ns"].int_or(0);
  a.ctime_ns = j["ctime_ns"].int_or(0);
  a.btime_ns = j["btime_ns"].int_or(0);
  return a;
}

// The S3 system metadata fields, by their names in meta.jsonl.
std::vector<std::pair<const char*, std::string ObjectMeta::*>> MetaFields() {
  return {{"content_type", &ObjectMeta::content_type},
          {"content_encoding", &ObjectMeta::content_encoding},
          {"content_disposition", &ObjectMeta::content_disposition},
          {"content_language", &ObjectMeta::content_language},
          {"cache_control", &ObjectMeta::cache_control},
          {"expires", &ObjectMeta::expires}};
}

Json MetaJson(const ObjectMeta& m) {
  Json j = Json::MakeObject();
  for (auto& [name, field] : MetaFields())
    if (!(m.*field).empty()) j.Set(name, m.*field);
  if (!m.user.empty()) {
    Json u = Json::MakeObject();
    for (auto& [k, v] : m.user) u.Set(k, v);
    j.Set("user", std::move(u));
  }
  return j;
}

ObjectMeta MetaFromJson(const Json& j) {
  ObjectMeta m;
  for (auto& [name, field] : MetaFields()) m.*field = j[name].str();
  if (j["user"].is_object())
    for (auto& [k, v] : j["user"].object()) m.user[k] = v.str();
  return m;
}

// One object (or explicit directory) of the bucket as the snapshot read it.
struct Item {
  std::string rel;  // key relative to the prefix
  bool pathable = true;
  bool implicit = false;  // a directory implied by keys below it (not an S3 object)
  ObjectInfo info;
};

// The directory tree being assembled: directories by name, files and symlinks as leaves.
struct TreeNode {
  bool dir = true;
  std::map<std::string, TreeNode> children;
  Cid cid;            // leaves
  uint64_t tsize = 0;
};

uint64_t SumSizes(const std::vector<BlockUse>& uses) {
  uint64_t n = 0;
  for (const BlockUse& u : uses) n += u.size;
  return n;
}

Bytes Multihash(const Cid& c) { return Bytes(c.multihash().begin(), c.multihash().end()); }

// ---- reading UnixFS DAGs ----

// A file DAG's blocks as the ledger records them.
struct FileDag {
  DagRoot root;
  std::vector<BlockUse> leaves, nodes;
};

Status WalkFile(BlockSource* src, const Cid& cid, ByteView block, FileDag* f, int depth) {
  if (depth > 64) return Status::Corruption(cid.ToString() + ": file DAG too deep");
  f->root.dag_size += block.size();
  if (cid.codec() == Codec::kRaw) {
    f->leaves.push_back(BlockUse{cid, block.size()});
    return Status::OK();
  }
  S3XFS_ASSIGN_OR_RETURN(PbNode pb, DecodePbNode(block));
  if (!pb.data) return Status::Corruption(cid.ToString() + ": dag-pb node without UnixFS data");
  S3XFS_ASSIGN_OR_RETURN(UnixfsData fs, DecodeUnixfs(*pb.data));
  if (fs.type != UnixfsType::kFile && fs.type != UnixfsType::kRaw)
    return Status::InvalidArgument(cid.ToString() + " is not a UnixFS file");
  if (pb.links.empty()) {
    f->leaves.push_back(BlockUse{cid, block.size()});
    return Status::OK();
  }
  f->nodes.push_back(BlockUse{cid, block.size()});
  std::vector<Cid> kids;
  for (const PbLink& l : pb.links) kids.push_back(l.hash);
  constexpr size_t kBatch = 32;
  for (size_t i = 0; i < kids.size(); i += kBatch) {
    std::span<const Cid> part(kids.data() + i, std::min(kBatch, kids.size() - i));
    auto got = src->GetMany(part);
    for (size_t k = 0; k < part.size(); ++k) {
      if (!got[k].ok()) return got[k].status();
      S3XFS_RETURN_IF_ERROR(WalkFile(src, part[k], *got[k], f, depth + 1));
    }
  }
  return Status::OK();
}

Result<FileDag> ReadFileDag(BlockSource* src, const Cid& root) {
  S3XFS_ASSIGN_OR_RETURN(Bytes block, GetOneBlock(src, root));
  FileDag f;
  f.root.cid = root;
  S3XFS_RETURN_IF_ERROR(WalkFile(src, root, block, &f, 0));
  if (root.codec() == Codec::kRaw) {
    f.root.file_size = block.size();
  } else {
    DagReader reader(src);
    S3XFS_ASSIGN_OR_RETURN(f.root.file_size, reader.FileSize(root));
  }
  return f;
}

// What a restore walks in a tree: every path with its kind.
struct TreeEntry {
  std::string path;  // relative, directories end with '/'
  InodeKind kind = InodeKind::kFile;
  Cid cid;
  std::string target;  // symlinks
  bool empty_dir = false;
};

Status WalkTree(BlockSource* src, const Cid& dir, const std::string& prefix,
                std::vector<TreeEntry>* out, const BlockVisitor& seen, int depth) {
  if (depth > 512) return Status::Corruption("directory tree deeper than 512 levels");
  std::vector<DirEntry> entries;
  S3XFS_RETURN_IF_ERROR(ForEachDirectoryEntry(src, dir, [&](const DirEntry& e) {
    entries.push_back(e);
    return Status::OK();
  }, 16, seen));
  std::sort(entries.begin(), entries.end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  if (entries.empty() && !prefix.empty()) out->back().empty_dir = true;
  for (const DirEntry& e : entries) {
    const std::string path = prefix + e.name;
    S3XFS_ASSIGN_OR_RETURN(UnixfsNode n, StatNode(src, e.cid));
    if (n.is_file()) {
      out->push_back(TreeEntry{path, InodeKind::kFile, e.cid, "", false});
    } else if (n.is_directory()) {
      out->push_back(TreeEntry{path + "/", InodeKind::kDirectory, e.cid, "", false});
      S3XFS_RETURN_IF_ERROR(WalkTree(src, e.cid, path + "/", out, seen, depth + 1));
    } else if (n.kind == UnixfsKind::kSymlink) {
      out->push_back(TreeEntry{path, InodeKind::kSymlink, e.cid, n.symlink_target, false});
      seen(e.cid, n.block_size);
    } else {
      return Status::NotSupported(path + ": " + e.cid.ToString() +
                                  " is neither a UnixFS file, directory nor symlink");
    }
  }
  return Status::OK();
}

// A snapshot manifest: its top-level entries, the header line and the object lines.
struct Manifest {
  std::map<std::string, DirEntry> top;
  Json header;
  std::vector<Json> lines;  // without the header
  std::optional<Cid> tree() const {
    auto t = top.find(kTreeName);
    return t == top.end() ? std::nullopt : std::optional<Cid>(t->second.cid);
  }
};

// nullopt when `root` is not a manifest (not a directory, no meta.jsonl and tree, or no
// snapshot header). With !all, only the header line is read. Corruption for a manifest whose
// object lines are not JSON.
Result<std::optional<Manifest>> ReadManifest(BlockSource* src, const Cid& root, bool all) {
  auto n = StatNode(src, root);
  if (!n.ok()) {
    if (n.status().code() == Status::Code::kCorruption) return std::optional<Manifest>();
    return n.status();
  }
  if (n->kind != UnixfsKind::kDirectory) return std::optional<Manifest>();
  Manifest m;
  for (const PbLink& l : n->links)
    m.top[l.name.value_or("")] = DirEntry{l.name.value_or(""), l.hash, l.tsize.value_or(0)};
  if (!m.top.count(kMetaName) || !m.top.count(kTreeName)) return std::optional<Manifest>();
  std::string text;
  DagReader reader(src);
  S3XFS_RETURN_IF_ERROR(reader.Read(m.top[kMetaName].cid, 0, all ? UINT64_MAX : 65536,
                                    [&](ByteView p) {
                                      text.append(reinterpret_cast<const char*>(p.data()), p.size());
                                      return Status::OK();
                                    }));
  size_t nl = text.find('\n');
  if (nl == std::string::npos) return std::optional<Manifest>();
  auto header = Json::Parse(std::string_view(text).substr(0, nl), 8);
  if (!header.ok() || (*header)["s3xfs_snapshot"].int_or(0) != kFormatVersion)
    return std::optional<Manifest>();
  m.header = std::move(*header);
  for (size_t start = nl + 1; all && start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    auto j = Json::Parse(std::string_view(text).substr(start, end - start), 8);
    if (!j.ok()) return Status::Corruption("meta.jsonl of " + root.ToString() + ": " + j.status().message());
    m.lines.push_back(std::move(*j));
    start = end + 1;
  }
  return std::optional<Manifest>(std::move(m));
}

}  // namespace

std::string DefaultSnapshotIndex(const std::string& ledger_path) {
  size_t slash = ledger_path.rfind('/');
  return (slash == std::string::npos ? std::string(".") : ledger_path.substr(0, slash)) +
         "/snapshots";
}

Result<std::optional<Cid>> LookupSnapshotIndex(const std::string& index, const Cid& tree) {
  std::ifstream in(index);
  std::optional<Cid> found;
  std::string line;
  const Bytes want = Multihash(tree);
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string t, m;
    if (!(fields >> t >> m)) continue;  // a torn last line (crash while appending)
    auto tc = Cid::Parse(t);
    auto mc = Cid::Parse(m);
    if (tc.ok() && mc.ok() && Multihash(*tc) == want) found = *mc;
  }
  return found;
}

Status AppendSnapshotIndex(const std::string& index, const Cid& tree, const Cid& manifest,
                           const std::string& bucket, int64_t now_ns) {
  S3XFS_ASSIGN_OR_RETURN(auto known, LookupSnapshotIndex(index, tree));
  if (known && *known == manifest) return Status::OK();
  const std::string line = tree.ToString() + " " + manifest.ToString() + " " +
                           std::to_string(now_ns) + " " + bucket + "\n";
  int fd = ::open(index.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno("snapshot index " + index, errno);
  ssize_t n = ::write(fd, line.data(), line.size());
  int err = errno;
  if (n == static_cast<ssize_t>(line.size()) && ::fdatasync(fd) != 0) {
    err = errno;
    n = -1;
  }
  ::close(fd);
  if (n != static_cast<ssize_t>(line.size()))
    return Status::FromErrno("snapshot index " + index, n < 0 ? err : ENOSPC);
  return Status::OK();
}

std::string ObjectStoreImpl::SnapshotIndexPath() const {
  return opt_.snapshot_index_path.empty() ? DefaultSnapshotIndex(opt_.ledger_path)
                                          : opt_.snapshot_index_path;
}

Result<std::optional<Cid>> SnapshotTreeOf(BlockSource* source, const Cid& root) {
  S3XFS_ASSIGN_OR_RETURN(auto m, ReadManifest(source, root, false));
  if (!m) return std::optional<Cid>();
  return m->tree();
}

Result<std::optional<Cid>> ObjectStoreImpl::FindManifest(const Cid& tree) {
  return LookupSnapshotIndex(SnapshotIndexPath(), tree);
}

Result<SnapshotInfo> ObjectStoreImpl::Snapshot(const std::string& bucket,
                                               const SnapshotOptions& o) {
  const std::string pfx = NormalizePrefix(o.prefix);
  if (!pfx.empty()) S3XFS_RETURN_IF_ERROR(CheckKey(pfx));
  SnapshotInfo info;
  // 1. One consistent read of the keys, their inodes and their blocks.
  std::vector<Item> items;
  ObjectInfo root_dir;
  std::map<InodeId, std::vector<BlockUse>> uses;
  std::map<InodeId, uint64_t> generations;
  S3XFS_RETURN_IF_ERROR(ledger_->Read([&](LedgerTxn& t) -> Status {
    S3XFS_ASSIGN_OR_RETURN(BucketInfo b, NeedBucket(t, bucket));
    if (pfx.empty()) {
      S3XFS_ASSIGN_OR_RETURN(root_dir, t.GetInode(b.root_ino));
    } else {
      S3XFS_ASSIGN_OR_RETURN(auto d, t.Lookup(bucket, pfx));
      if (!d) return Status::NotFound("no directory " + pfx + " in bucket " + bucket)
                  .With(Reason::kNoSuchKey);
      S3XFS_ASSIGN_OR_RETURN(root_dir, t.GetInode(d->ino));
    }
    std::string from = pfx;
    bool inclusive = true;
    for (;;) {
      S3XFS_ASSIGN_OR_RETURN(auto rows, t.Scan(bucket, from, inclusive, kScanBatch));
      bool more = rows.size() == kScanBatch;
      for (const Dentry& d : rows) {
        if (!keys::StartsWith(d.key, pfx)) {
          more = false;
          break;
        }
        // (implicit directories that cannot be paths are nothing but a consequence of keys)
        if (d.key == pfx || (d.implicit && d.parent == 0)) continue;
        Item it;
        it.rel = d.key.substr(pfx.size());
        it.implicit = d.implicit;
        it.pathable = d.parent != 0;
        S3XFS_ASSIGN_OR_RETURN(it.info, t.GetInode(d.ino));
        it.info.ino = d.ino;
        if (!it.info.cid.empty() && !uses.count(d.ino)) {
          S3XFS_ASSIGN_OR_RETURN(uses[d.ino], t.Uses(d.ino));
          generations[d.ino] = it.info.generation;
        }
        items.push_back(std::move(it));
      }
      if (!more || rows.empty()) break;
      from = rows.back().key;
      inclusive = false;
    }
    return Status::OK();
  }));

  // 2. The tree, from the paths (no lock held; new blocks held against GC until the pin).
  const int version = opt_.dag.cid_version;
  HeldBlocks held(blocks_, &inflight_);
  auto sink = [&](const Block& b) { return held.Add(b.cid, b.data, false); };
  const uint64_t total = items.size();
  uint64_t done = 0;
  auto tick = [&] {
    ++done;
    if (o.progress && (done % 1024 == 0 || done == total)) o.progress(done, total);
  };
  TreeNode tree;
  std::map<InodeId, std::string> etags;  // pending ETags computed here, by inode
  std::vector<size_t> other;  // items kept under "other" (not representable in the tree)
  std::map<size_t, size_t> other_index;
  for (size_t n = 0; n < items.size(); ++n) {
    Item& it = items[n];
    // The manifest records every file's ETag; a pending one is computed here (once per inode:
    // hard links share it). One that cannot be computed stays empty: restore computes it.
    if (it.info.kind == InodeKind::kFile && it.info.etag.empty()) {
      if (auto e = etags.find(it.info.ino); e != etags.end()) {
        it.info.etag = e->second;
      } else if (Status st = ResolveEtag(it.info); st.ok()) {
        etags[it.info.ino] = it.info.etag;
      } else {
        S3XFS_LOG(kWarning) << "snapshot of " << bucket << ": ETag of " << it.rel << ": " << st.ToString();
      }
    }
    const ObjectInfo& oi = it.info;
    const bool is_dir = oi.kind == InodeKind::kDirectory;
    const bool has_content = oi.kind == InodeKind::kFile || (is_dir && oi.size > 0);
    if (oi.kind == InodeKind::kFile) {
      info.files++;
      info.bytes += oi.size;
    } else if (is_dir) {
      info.directories++;
    } else if (oi.kind == InodeKind::kSymlink) {
      info.symlinks++;
    } else {
      info.special++;
    }
    std::string path = it.rel;
    if (is_dir && !path.empty() && path.back() == '/') path.pop_back();
    // Walk to the parent directory; a component already taken by a file makes the key
    // unpathable (the ledger says so too: parent 0).
    TreeNode* dir = &tree;
    bool placed = it.pathable;
    size_t start = 0;
    std::string name;
    while (placed) {
      size_t slash = path.find('/', start);
      name = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
      if (name.empty()) {
        placed = false;
        break;
      }
      if (slash == std::string::npos) break;
      TreeNode& next = dir->children[name];
      if (!next.dir) placed = false;
      dir = &next;
      start = slash + 1;
    }
    if (placed) {
      auto existing = dir->children.find(name);
      if (is_dir) {
        if (existing != dir->children.end() && !existing->second.dir) placed = false;
        else dir->children[name];  // an empty directory unless keys below fill it
      } else if (existing != dir->children.end()) {
        placed = false;  // "x" beside a directory "x/": only one can be a path
      } else if (oi.kind == InodeKind::kFile) {
        TreeNode leaf;
        leaf.dir = false;
        leaf.cid = oi.cid.empty() ? ComputeFileRoot({}, opt_.dag)->cid : oi.cid;
        leaf.tsize = oi.cid.empty() ? 0 : SumSizes(uses[oi.ino]);
        dir->children.emplace(name, std::move(leaf));
      } else if (oi.kind == InodeKind::kSymlink) {
        Block b = BuildSymlink(oi.symlink, version);
        S3XFS_RETURN_IF_ERROR(sink(b));
        TreeNode leaf;
        leaf.dir = false;
        leaf.cid = b.cid;
        leaf.tsize = b.data.size();
        dir->children.emplace(name, std::move(leaf));
      }
      // fifos, sockets and devices have no UnixFS form: metadata only.
    }
    if (!placed) info.unpathable++;
    if ((!placed || is_dir) && has_content && !oi.cid.empty()) {
      other_index[n] = other.size();
      other.push_back(n);
    }
    it.pathable = placed;
    tick();
  }
  std::function<Result<DirRoot>(TreeNode&)> build = [&](TreeNode& node) -> Result<DirRoot> {
    std::vector<DirEntry> entries;
    entries.reserve(node.children.size());
    for (auto& [name, child] : node.children) {
      if (child.dir) {
        S3XFS_ASSIGN_OR_RETURN(DirRoot r, build(child));
        entries.push_back(DirEntry{name, r.cid, r.tsize});
      } else {
        entries.push_back(DirEntry{name, child.cid, child.tsize});
      }
    }
    return BuildDirectory(std::move(entries), version, sink);
  };
  S3XFS_ASSIGN_OR_RETURN(DirRoot tree_root, build(tree));
  info.tree = tree_root.cid;

  // 3. meta.jsonl: a header line, then one line per object in key order.
  DagBuilder meta_builder(opt_.dag, [&](const Cid& cid, ByteView data, bool leaf) {
    return held.Add(cid, data, leaf);
  });
  Json header = Json::MakeObject();
  header.Set("s3xfs_snapshot", kFormatVersion).Set("bucket", bucket).Set("prefix", pfx)
      .Set("created_ns", Now()).Set("tree", tree_root.cid.ToString())
      .Set("objects", static_cast<int64_t>(items.size())).Set("root", AttrsJson(root_dir.attrs));
  std::string line = header.Dump() + "\n";
  S3XFS_RETURN_IF_ERROR(meta_builder.Write(AsBytes(line)));
  for (size_t n = 0; n < items.size(); ++n) {
    const ObjectInfo& oi = items[n].info;
    Json j = Json::MakeObject();
    j.Set("key", items[n].rel).Set("kind", KindName(oi.kind));
    if (!oi.cid.empty() && (oi.kind == InodeKind::kFile || oi.size > 0)) {
      j.Set("cid", oi.cid.ToString()).Set("size", oi.size).Set("etag", oi.etag);
    }
    if (oi.kind == InodeKind::kSymlink) j.Set("target", oi.symlink);
    if (oi.kind == InodeKind::kFile && oi.nlink > 1) j.Set("ino", static_cast<int64_t>(oi.ino));
    if (!items[n].pathable) j.Set("path", false);
    if (items[n].implicit) j.Set("implicit", true);
    if (auto o2 = other_index.find(n); o2 != other_index.end())
      j.Set("other", static_cast<int64_t>(o2->second));
    j.Set("attrs", AttrsJson(oi.attrs));
    Json meta = MetaJson(oi.meta);
    if (!meta.object().empty()) j.Set("meta", std::move(meta));
    line = j.Dump() + "\n";
    S3XFS_RETURN_IF_ERROR(meta_builder.Write(AsBytes(line)));
  }
  S3XFS_ASSIGN_OR_RETURN(DagRoot meta_root, meta_builder.Finish());

  // 4. The manifest.
  std::vector<DirEntry> top{{kMetaName, meta_root.cid, meta_root.dag_size},
                            {kTreeName, tree_root.cid, tree_root.tsize}};
  if (!other.empty()) {
    std::vector<DirEntry> extra;
    for (size_t k = 0; k < other.size(); ++k) {
      const ObjectInfo& oi = items[other[k]].info;
      extra.push_back(DirEntry{std::to_string(k), oi.cid, SumSizes(uses[oi.ino])});
    }
    S3XFS_ASSIGN_OR_RETURN(DirRoot o_root, BuildDirectory(std::move(extra), version, sink));
    top.push_back(DirEntry{kOtherName, o_root.cid, o_root.tsize});
  }
  S3XFS_ASSIGN_OR_RETURN(DirRoot manifest, BuildDirectory(std::move(top), version, sink));
  info.manifest = manifest.cid;
  S3XFS_RETURN_IF_ERROR(held.Flush());

  // 5. Pin it: the new blocks plus every block of the objects it names, in one transaction.
  std::vector<BlockUse> pinned = held.leaves;
  pinned.insert(pinned.end(), held.nodes.begin(), held.nodes.end());
  S3XFS_RETURN_IF_ERROR(ledger_->Write([&](LedgerTxn& t) -> Status {
    for (auto& [ino, gen] : generations) {
      auto now = t.GetInode(ino);
      if (now.ok() && now->generation == gen) continue;
      if (!now.ok() && now.status().code() != Status::Code::kNotFound) return now.status();
      // Changed since the read: its old blocks are only safe while the ledger still has them.
      for (const BlockUse& u : uses[ino]) {
        S3XFS_ASSIGN_OR_RETURN(bool has, t.HasBlock(u.cid.multihash()));
        if (!has)
          return Status::Unavailable("bucket " + bucket +
                                     " changed too much during the snapshot; retry");
      }
    }
    ObjectInfo holder;
    holder.kind = InodeKind::kFile;
    holder.nlink = 0;
    holder.cid = manifest.cid;
    S3XFS_ASSIGN_OR_RETURN(InodeId ino, t.InsertInode(holder));
    std::vector<BlockUse> all = pinned;
    for (auto& [i, u] : uses) all.insert(all.end(), u.begin(), u.end());
    S3XFS_RETURN_IF_ERROR(t.AddUses(ino, {}, all));
    S3XFS_ASSIGN_OR_RETURN(auto old, t.PutPin(manifest.cid, ino, Now()));
    if (old) S3XFS_RETURN_IF_ERROR(FreeInode(t, *old));
    return Status::OK();
  }));
  S3XFS_RETURN_IF_ERROR(AppendSnapshotIndex(SnapshotIndexPath(), info.tree, info.manifest, bucket, Now()));
  return info;
}

Result<RestoreInfo> ObjectStoreImpl::Restore(const Cid& root, const std::string& bucket,
                                             const RestoreOptions& o) {
  RestoreInfo info;
  BlockSource* src = blocks_;
  std::map<Bytes, BlockUse> walked;  // every block of the snapshot (to pin it again)
  auto seen_cid = [&](const Cid& c, uint64_t size) { walked.emplace(c.binary(), BlockUse{c, size}); };

  // 1. A manifest, a tree the index knows, or a plain UnixFS directory.
  std::optional<Manifest> m;
  S3XFS_ASSIGN_OR_RETURN(m, ReadManifest(src, root, true));
  if (m) {
    info.manifest = root;
  } else {
    S3XFS_ASSIGN_OR_RETURN(auto known, FindManifest(root));
    if (known) {
      auto km = ReadManifest(src, *known, true);
      if (km.ok() && *km && Multihash(*(*km)->tree()) == Multihash(root)) {
        m = std::move(*km);
        info.manifest = *known;
      }
    }
  }
  const bool manifest = m.has_value();
  info.tree = manifest ? *m->tree() : root;
  std::vector<Json> empty_lines;
  const std::vector<Json>& lines = manifest ? m->lines : empty_lines;
  Json header = manifest ? m->header : Json();
  std::map<std::string, DirEntry> top = manifest ? m->top : std::map<std::string, DirEntry>();
  info.metadata = manifest;
  const Cid pin_root = manifest ? info.manifest : info.tree;
  if (manifest) {
    // The manifest's own blocks: its directory, meta.jsonl and "other".
    S3XFS_ASSIGN_OR_RETURN(Bytes mraw, GetOneBlock(src, info.manifest));
    seen_cid(info.manifest, mraw.size());
    S3XFS_ASSIGN_OR_RETURN(FileDag meta_dag, ReadFileDag(src, top[kMetaName].cid));
    for (auto* v : {&meta_dag.leaves, &meta_dag.nodes})
      for (const BlockUse& u : *v) seen_cid(u.cid, u.size);
    if (top.count(kOtherName)) {
      S3XFS_ASSIGN_OR_RETURN(Bytes oraw, GetOneBlock(src, top[kOtherName].cid));
      seen_cid(top[kOtherName].cid, oraw.size());
    }
  }

  // 2. The tree's paths (every block of its directories is read and verified).
  std::vector<TreeEntry> paths;
  S3XFS_RETURN_IF_ERROR(WalkTree(src, info.tree, "", &paths, seen_cid, 0));

  // 3. The bucket: new, or existing and empty.
  Status created = CreateBucket(bucket, "");
  if (!created.ok() && created.reason() != Reason::kBucketAlreadyOwnedByYou) return created;
  if (!created.ok()) {
    ListOptions lo;
    lo.max_keys = 1;
    S3XFS_ASSIGN_OR_RETURN(ListResult l, List(bucket, lo));
    S3XFS_ASSIGN_OR_RETURN(auto ups, ListUploads(bucket, ""));
    if (!l.objects.empty() || !ups.empty())
      return Status::InvalidArgument("bucket " + bucket + " is not empty; restore into a new or "
                                     "empty bucket").With(Reason::kBucketNotEmpty);
  }

  // 4. The objects.
  std::map<std::string, const TreeEntry*> by_path;
  for (const TreeEntry& e : paths) by_path[e.path] = &e;
  uint64_t done = 0;
  const uint64_t total = manifest ? lines.size() : paths.size();
  auto tick = [&] {
    ++done;
    if (o.progress && (done % 256 == 0 || done == total)) o.progress(done, total);
  };
  const Durability relaxed = Durability::kRelaxed;
  auto put_file = [&](const std::string& key, const Cid& cid, const std::string& etag,
                      const PutOptions& po) -> Status {
    S3XFS_ASSIGN_OR_RETURN(FileDag dag, ReadFileDag(src, cid));
    for (auto* v : {&dag.leaves, &dag.nodes})
      for (const BlockUse& u : *v) seen_cid(u.cid, u.size);
    BuiltContent c;
    c.root = dag.root;
    if (etag.empty()) {
      S3XFS_ASSIGN_OR_RETURN(auto md5, ContentMd5(src, cid));
      c.md5_hex = md5.first;
      c.md5_raw = md5.second;
    } else {
      c.md5_hex = etag;
    }
    c.leaves = std::move(dag.leaves);
    c.nodes = std::move(dag.nodes);
    // Held against GC from here to the commit (the ledger may know them at zero references).
    std::vector<Bytes> mhs;
    for (auto* v : {&c.leaves, &c.nodes})
      for (const BlockUse& u : *v) mhs.push_back(Multihash(u.cid));
    for (const Bytes& mh : mhs) inflight_.Hold(mh);
    CommitTarget target;
    target.bucket = bucket;
    target.key = key;
    target.options = po;
    auto r = CommitContent(target, std::move(c));
    inflight_.Unhold(mhs);
    if (!r.ok()) return r.status();
    info.files++;
    info.bytes += dag.root.file_size;
    return Status::OK();
  };
  // Directory attributes are set last (children change a directory's times), deepest first.
  std::vector<std::pair<std::string, PosixAttrs>> dir_attrs;
  if (manifest) {
    std::map<int64_t, std::string> link_groups;  // recorded inode -> first key restored
    for (const Json& j : lines) {
      const std::string key = j["key"].str();
      auto kind = KindFromName(j["kind"].str());
      if (key.empty() || !kind) return Status::Corruption("meta.jsonl: bad line " + j.Dump());
      S3XFS_RETURN_IF_ERROR(CheckKey(key));
      PutOptions po;
      po.meta = MetaFromJson(j["meta"]);
      po.attrs = AttrsFromJson(j["attrs"], *kind == InodeKind::kDirectory ? 0755 : 0644);
      po.durability = relaxed;
      if (*kind == InodeKind::kFile) {
        const int64_t group = j["ino"].int_or(0);
        if (group) {
          auto first = link_groups.find(group);
          if (first != link_groups.end()) {
            S3XFS_RETURN_IF_ERROR(Link(bucket, first->second, key, relaxed).status());
            info.links++;
            tick();
            continue;
          }
          link_groups[group] = key;
        }
        S3XFS_ASSIGN_OR_RETURN(Cid cid, Cid::Parse(j["cid"].str()));
        if (j["path"].bool_or(true)) {
          auto in_tree = by_path.find(key);
          if (in_tree == by_path.end() || Multihash(in_tree->second->cid) != Multihash(cid))
            return Status::Corruption("snapshot: " + key + " is not in the tree as meta.jsonl says");
        }
        S3XFS_RETURN_IF_ERROR(put_file(key, cid, j["etag"].str(), po));
      } else if (*kind == InodeKind::kDirectory) {
        if (j.has("cid")) {  // a directory marker with content (written over S3)
          S3XFS_ASSIGN_OR_RETURN(Cid cid, Cid::Parse(j["cid"].str()));
          S3XFS_RETURN_IF_ERROR(put_file(key, cid, j["etag"].str(), po));
          info.files--;
        } else if (!j["implicit"].bool_or(false)) {
          S3XFS_RETURN_IF_ERROR(MakeDirectory(bucket, key, *po.attrs, relaxed).status());
        }
        dir_attrs.emplace_back(key, *po.attrs);
        info.directories++;
      } else if (*kind == InodeKind::kSymlink) {
        S3XFS_RETURN_IF_ERROR(Symlink(bucket, key, j["target"].str(), *po.attrs, relaxed).status());
        info.symlinks++;
      } else {
        S3XFS_RETURN_IF_ERROR(MakeNode(bucket, key, *kind, *po.attrs, relaxed).status());
        info.special++;
      }
      tick();
    }
  } else {
    for (const TreeEntry& e : paths) {
      PutOptions po;
      po.durability = relaxed;
      if (e.kind == InodeKind::kFile) {
        S3XFS_RETURN_IF_ERROR(put_file(e.path, e.cid, "", po));
      } else if (e.kind == InodeKind::kSymlink) {
        PosixAttrs a;
        a.mode = 0777;
        S3XFS_RETURN_IF_ERROR(Symlink(bucket, e.path, e.target, a, relaxed).status());
        info.symlinks++;
      } else {
        info.directories++;
        if (e.empty_dir) {
          PosixAttrs a;
          a.mode = 0755;
          S3XFS_RETURN_IF_ERROR(MakeDirectory(bucket, e.path, a, relaxed).status());
        }
      }
      tick();
    }
  }
  for (auto it = dir_attrs.rbegin(); it != dir_attrs.rend(); ++it) {
    std::optional<Dentry> d;
    S3XFS_RETURN_IF_ERROR(ledger_->Read([&](LedgerTxn& t) -> Status {
      S3XFS_ASSIGN_OR_RETURN(d, t.Lookup(bucket, it->first));
      return Status::OK();
    }));
    // (an implicit directory exists only while something below it does)
    if (d) S3XFS_RETURN_IF_ERROR(SetAttrs(d->ino, it->second, relaxed));
  }
  if (manifest && header["root"].is_object()) {
    S3XFS_ASSIGN_OR_RETURN(BucketInfo b, HeadBucket(bucket));
    S3XFS_RETURN_IF_ERROR(SetAttrs(b.root_ino, AttrsFromJson(header["root"], 0755), relaxed));
  }
  S3XFS_RETURN_IF_ERROR(SyncLedger());

  // 5. Keep the snapshot itself (its directories and metadata too) under its pin.
  std::vector<BlockUse> all;
  all.reserve(walked.size());
  for (auto& [bin, use] : walked) all.push_back(use);
  S3XFS_RETURN_IF_ERROR(Pin(pin_root, all));
  if (manifest) S3XFS_RETURN_IF_ERROR(AppendSnapshotIndex(SnapshotIndexPath(), info.tree, info.manifest, bucket, Now()));
  return info;
}

}  // namespace s3xfs
