// Commands on blocks and DAGs: add, cat, export-car, import-car, fsck.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <future>
#include <iostream>
#include <thread>

#include "admin_link.h"
#include "commands.h"
#include "common.h"
#include "progress.h"
#include "s3xfs/admin/service.h"
#include "s3xfs/blockstore/batch.h"
#include "s3xfs/cas/car.h"
#include "s3xfs/cas/dag_builder.h"
#include "s3xfs/cas/dag_reader.h"
#include "s3xfs/cas/dagpb.h"
#include "s3xfs/cas/directory.h"

namespace s3xfs::cli {

namespace {

// Inputs at least this large (or of unknown size) show progress while they are added.
constexpr uint64_t kAddProgressMin = 16u << 20;

// The size of a regular file; 0 for pipes and terminals (unknown).
uint64_t RegularFileSize(int fd) {
  struct stat sb;
  if (::fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode)) return static_cast<uint64_t>(sb.st_size);
  return 0;
}

// ---- add ----

void DefineAdd(po::options_description& d, po::positional_options_description& p) {
  d.add_options()
      ("cid-version", po::value<int>()->default_value(1),
       "1: CIDv1, raw leaves (= ipfs add --cid-version=1); 0: CIDv0 (= plain ipfs add)")
      ("only-hash,n", po::bool_switch(), "compute the CID without storing blocks")
      ("recursive,r", po::bool_switch(), "add a directory tree (= ipfs add -r): directories "
                                         "become UnixFS directories, HAMT-sharded when big")
      ("hidden", po::bool_switch(), "with -r, include names starting with '.' (= ipfs add --hidden)")
      ("data-dir", po::value<std::string>(), "data directory (block store under DIR/blocks)")
      ("file", po::value<std::string>()->required(), "file or directory to add, or - for stdin");
  DefineIpfsOptions(d);
  p.add("file", 1);
}

// What add does with each block: nothing (--only-hash), or batch it to the store and remember
// it for the pin.
struct AddSink {
  BlockBatch* batch = nullptr;
  std::vector<BlockUse> uses;
  Status operator()(const Cid& cid, ByteView data) {
    if (!batch) return Status::OK();
    uses.push_back(BlockUse{cid, data.size()});
    return batch->Add(cid, data);
  }
};

// progress: show a progress line on a terminal (a single big file or stdin; never per file of
// a tree).
Result<DirRoot> AddFile(const DagOptions& opt, AddSink& sink, const std::string& path,
                        bool progress = false) {
  S3XFS_ASSIGN_OR_RETURN(int fd, OpenInput(path));
  DagBuilder builder(opt, [&](const Cid& cid, ByteView data, bool) { return sink(cid, data); });
  const uint64_t size = RegularFileSize(fd);
  ProgressOptions popt;
  if (!progress || (size > 0 && size < kAddProgressMin)) popt.enabled = false;
  Progress bar("add", size, popt);
  Status st = ReadAll(fd, path, [&](ByteView piece) {
    S3XFS_RETURN_IF_ERROR(builder.Write(piece));
    bar.Add(piece.size());
    return Status::OK();
  });
  if (fd != 0) ::close(fd);
  S3XFS_RETURN_IF_ERROR(st);
  S3XFS_ASSIGN_OR_RETURN(DagRoot root, builder.Finish());
  bar.Finish();
  return DirRoot{root.cid, root.dag_size, false};
}

// A symbolic link as a UnixFS Symlink node (the link itself, never followed).
Result<DirRoot> AddSymlink(const DagOptions& opt, AddSink& sink, const std::string& path) {
  std::string target(4096, '\0');
  ssize_t n = ::readlink(path.c_str(), target.data(), target.size());
  if (n < 0) return Status::FromErrno("readlink " + path, errno);
  target.resize(static_cast<size_t>(n));
  Block b = BuildSymlink(target, opt.cid_version);
  S3XFS_RETURN_IF_ERROR(sink(b.cid, b.data));
  return DirRoot{b.cid, b.data.size(), false};
}

// A file, symlink or directory tree, as `ipfs add -r` imports it.
Result<DirRoot> AddTree(const DagOptions& opt, AddSink& sink, const std::string& path, bool hidden) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return Status::FromErrno("cannot add " + path, errno);
  if (S_ISREG(st.st_mode)) return AddFile(opt, sink, path);
  if (S_ISLNK(st.st_mode)) return AddSymlink(opt, sink, path);
  if (!S_ISDIR(st.st_mode)) return Status::InvalidArgument("cannot add special file " + path);
  std::vector<std::string> names;
  {
    DIR* dir = ::opendir(path.c_str());
    if (!dir) return Status::FromErrno("cannot read directory " + path, errno);
    while (struct dirent* e = ::readdir(dir)) {
      std::string n = e->d_name;
      if (n == "." || n == ".." || (!hidden && n[0] == '.')) continue;
      names.push_back(std::move(n));
    }
    ::closedir(dir);
  }
  std::sort(names.begin(), names.end());
  std::vector<DirEntry> entries;
  entries.reserve(names.size());
  for (const std::string& n : names) {
    S3XFS_ASSIGN_OR_RETURN(DirRoot child, AddTree(opt, sink, path + "/" + n, hidden));
    entries.push_back(DirEntry{n, child.cid, child.tsize});
  }
  return BuildDirectory(std::move(entries), opt.cid_version,
                        [&](const Block& b) { return sink(b.cid, b.data); });
}

Status RunAdd(const po::variables_map& vm) {
  int version = vm["cid-version"].as<int>();
  if (version != 0 && version != 1) return Status::InvalidArgument("--cid-version must be 0 or 1");
  DagOptions opt = version == 1 ? DagOptions::KuboV1() : DagOptions::KuboV0();
  opt.hash_threads = std::max(1u, std::thread::hardware_concurrency());
  bool only_hash = vm["only-hash"].as<bool>();
  const std::string& path = vm["file"].as<std::string>();
  if (vm["recursive"].as<bool>() && path == "-")
    return Status::InvalidArgument("-r needs a path, not -");
  if (!vm["recursive"].as<bool>() && path != "-") {
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
      return Status::InvalidArgument(path + " is a directory (use -r)");
  }

  std::unique_ptr<BlockStore> store;
  bool remote = false;
  if (!only_hash) {
    S3XFS_ASSIGN_OR_RETURN(store, OpenCommandStore(vm, /*bulk=*/true, &remote));
  }
  // Blocks are copied into a batch and written with one PutMany per ~4 MiB.
  std::unique_ptr<BlockBatch> batch;
  if (store) batch = std::make_unique<BlockBatch>(store.get());
  AddSink sink;
  sink.batch = batch.get();
  S3XFS_ASSIGN_OR_RETURN(DirRoot root, vm["recursive"].as<bool>()
                                           ? AddTree(opt, sink, path, vm["hidden"].as<bool>())
                                           : AddFile(opt, sink, path, /*progress=*/true));
  if (store) {
    S3XFS_RETURN_IF_ERROR(batch->Flush());
    S3XFS_RETURN_IF_ERROR(store->Sync());
    if (!remote) S3XFS_RETURN_IF_ERROR(PinInLedger(vm, store.get(), root.cid, sink.uses));
    // A node that keeps only pinned blocks (Kubo) gets the root pinned, now that every block
    // of the DAG is there.
    if (remote && store->pins_roots()) S3XFS_RETURN_IF_ERROR(store->PinRoot(root.cid, std::nullopt));
  }
  std::string line = root.cid.ToString() + "\n";
  return WriteFd(1, AsBytes(line));
}

// ---- cat ----

void DefineCat(po::options_description& d, po::positional_options_description& p) {
  d.add_options()
      ("offset", po::value<std::string>(), "first byte to write (default 0)")
      ("length", po::value<std::string>(), "number of bytes to write (default: to the end)")
      ("data-dir", po::value<std::string>(), "data directory")
      ("cid", po::value<std::string>()->required(), "root CID of the file");
  DefineIpfsOptions(d);
  p.add("cid", 1);
}

Status RunCat(const po::variables_map& vm) {
  S3XFS_ASSIGN_OR_RETURN(Cid cid, ParseCidArg(vm));
  S3XFS_ASSIGN_OR_RETURN(uint64_t offset, ParseCount(vm, "offset", 0));
  S3XFS_ASSIGN_OR_RETURN(uint64_t length, ParseCount(vm, "length", UINT64_MAX));
  bool remote = false;
  S3XFS_ASSIGN_OR_RETURN(auto store, OpenCommandStore(vm, false, &remote));
  DagReader reader(store.get());
  return reader.Read(cid, offset, length, [](ByteView b) { return WriteFd(1, b); });
}

// ---- export-car / import-car ----

void DefineExportCar(po::options_description& d, po::positional_options_description& p) {
  d.add_options()
      ("data-dir", po::value<std::string>(), "data directory")
      ("cid", po::value<std::string>()->required(), "root CID of the DAG")
      ("no-metadata", po::bool_switch(),
       "for a snapshot's tree: leave its manifest (the metadata) out");
  DefineIpfsOptions(d);
  p.add("cid", 1);
}

Status RunExportCar(const po::variables_map& vm) {
  S3XFS_ASSIGN_OR_RETURN(Cid cid, ParseCidArg(vm));
  bool remote = false;
  S3XFS_ASSIGN_OR_RETURN(auto store, OpenCommandStore(vm, false, &remote));
  if (::isatty(1)) return Status::InvalidArgument("refusing to write a CAR to a terminal; redirect stdout");
  // A snapshot's tree travels with its metadata: the manifest becomes a second root.
  std::vector<Cid> roots{cid};
  S3XFS_ASSIGN_OR_RETURN(auto manifest,
                         LookupSnapshotIndex(DataDir(vm) + "/snapshots", cid));
  if (manifest && !vm["no-metadata"].as<bool>()) {
    roots.push_back(*manifest);
    std::cerr << "s3xfs export-car: " << cid.ToString() << " is a snapshot tree; its metadata ("
              << manifest->ToString() << ") is the CAR's second root\n";
  }
  Progress bar("export-car");
  S3XFS_RETURN_IF_ERROR(ExportCar(store.get(), roots, [&](ByteView b) {
    S3XFS_RETURN_IF_ERROR(WriteFd(1, b));
    bar.Add(b.size());
    return Status::OK();
  }));
  bar.Finish();
  return Status::OK();
}

void DefineImportCar(po::options_description& d, po::positional_options_description& p) {
  d.add_options()
      ("data-dir", po::value<std::string>(), "data directory")
      ("file", po::value<std::string>()->required(), "CAR file, or - for stdin");
  p.add("file", 1);
}

Status RunImportCar(const po::variables_map& vm) {
  const std::string& path = vm["file"].as<std::string>();
  S3XFS_ASSIGN_OR_RETURN(auto store, OpenStore(vm, /*bulk=*/true));
  S3XFS_ASSIGN_OR_RETURN(int fd, OpenInput(path));
  Progress bar("import-car", RegularFileSize(fd));
  CarReader reader([fd, &path, &bar](uint8_t* buf, size_t n) -> Result<size_t> {
    for (;;) {
      ssize_t r = ::read(fd, buf, n);
      if (r >= 0) {
        bar.Add(static_cast<uint64_t>(r));
        return static_cast<size_t>(r);
      }
      if (errno != EINTR) return Status::FromErrno("reading " + path, errno);
    }
  });
  auto run = [&]() -> Result<std::vector<Cid>> {
    S3XFS_ASSIGN_OR_RETURN(std::vector<Cid> roots, reader.ReadHeader());
    BlockBatch batch(store.get());
    std::vector<BlockUse> uses;
    for (;;) {
      auto next = reader.Next();  // verified against its CID
      if (!next.ok())
        return Status(Status::Corruption(path + ": " + next.status().message()));
      if (!next->has_value()) break;
      uses.push_back(BlockUse{(*next)->cid, (*next)->data.size()});
      S3XFS_RETURN_IF_ERROR(batch.Add(std::move(**next)));
    }
    S3XFS_RETURN_IF_ERROR(batch.Flush());
    S3XFS_RETURN_IF_ERROR(store->Sync());
    // One pin for the whole CAR, under its first root.
    if (!roots.empty()) S3XFS_RETURN_IF_ERROR(PinInLedger(vm, store.get(), roots[0], uses));
    return roots;
  };
  auto roots = run();
  if (fd != 0) ::close(fd);
  if (!roots.ok()) return roots.status();
  bar.Finish();
  std::string out;
  for (const Cid& r : *roots) {
    auto has = store->Has(r);
    if (has.ok() && !*has)
      std::cerr << "s3xfs import-car: warning: root " << r.ToString() << " is not in the CAR\n";
    out += r.ToString() + "\n";
    // A snapshot manifest: remember its tree, so `s3xfs restore TREE` finds the metadata.
    auto tree = SnapshotTreeOf(store.get(), r);
    if (tree.ok() && *tree) {
      S3XFS_RETURN_IF_ERROR(AppendSnapshotIndex(DataDir(vm) + "/snapshots", **tree, r, "",
                                                std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                    std::chrono::system_clock::now().time_since_epoch())
                                                    .count()));
      std::cerr << "s3xfs import-car: " << r.ToString() << " is a snapshot of tree "
                << (*tree)->ToString() << " (s3xfs restore CID BUCKET rebuilds its bucket)\n";
    }
  }
  return WriteFd(1, AsBytes(out));
}

// ---- snapshot / restore ----

void DefineSnapshot(po::options_description& d, po::positional_options_description& p) {
  d.add_options()
      ("data-dir", po::value<std::string>(), "data directory")
      ("bucket", po::value<std::string>()->required(), "bucket to snapshot")
      ("prefix", po::value<std::string>()->default_value(""),
       "only the directory PREFIX of the bucket (keys stored relative to it)")
      ("json", po::bool_switch(), "print the result as JSON");
  DefineIpfsOptions(d);
  p.add("bucket", 1).add("prefix", 1);
}

// A data directory's store for a one-shot snapshot or restore when no daemon runs on it: with
// --ipfs, blocks missing locally are fetched from the node and new ones queue for upload.
struct DirectStore {
  DaemonBlocks blocks;
  std::unique_ptr<ObjectStore> store;  // destroyed before the blocks it uses
};

Result<DirectStore> OpenDirectStore(const po::variables_map& vm) {
  DirectStore d;
  S3XFS_ASSIGN_OR_RETURN(d.blocks, OpenDaemonBlocks(vm, true));
  ObjectStoreOptions so;
  so.ledger_path = DataDir(vm) + "/ledger.db";
  so.remote = d.blocks.remote.get();
  S3XFS_ASSIGN_OR_RETURN(d.store, ObjectStore::Open(so, d.blocks.view()));
  return d;
}

// Asks the daemon running on the data directory to do `req`, or, without one, runs `here` on the
// directory's store with a progress line on the terminal.
using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;
Result<admin::Json> InDaemonOrHere(
    const po::variables_map& vm, const admin::Json& req, const char* title,
    const std::function<Result<admin::Json>(ObjectStore*, const ProgressFn&)>& here) {
  S3XFS_ASSIGN_OR_RETURN(auto reply, AskDaemonOk(DataDir(vm), req, std::chrono::hours(24)));
  if (reply) return std::move(*reply);
  S3XFS_ASSIGN_OR_RETURN(DirectStore d, OpenDirectStore(vm));
  Progress bar(title);
  S3XFS_ASSIGN_OR_RETURN(admin::Json j, here(d.store.get(), [&](uint64_t done, uint64_t total) {
    bar.SetTotal(total);
    bar.Set(done);
  }));
  bar.Finish();
  return j;
}

Status RunSnapshot(const po::variables_map& vm) {
  const std::string bucket = vm["bucket"].as<std::string>();
  admin::Json req = Request("snapshot");
  req.Set("bucket", bucket).Set("prefix", vm["prefix"].as<std::string>());
  S3XFS_ASSIGN_OR_RETURN(admin::Json j, InDaemonOrHere(vm, req, "snapshot",
      [&](ObjectStore* store, const ProgressFn& progress) -> Result<admin::Json> {
        SnapshotOptions o;
        o.prefix = vm["prefix"].as<std::string>();
        o.progress = progress;
        S3XFS_ASSIGN_OR_RETURN(SnapshotInfo info, store->Snapshot(bucket, o));
        return admin::SnapshotJson(info);
      }));
  if (vm["json"].as<bool>()) return WriteFd(1, AsBytes(j.Dump() + "\n"));
  std::cerr << "s3xfs snapshot: " << bucket << ": " << j["files"].int_or(0) << " files ("
            << j["bytes"].int_or(0) << " bytes), " << j["directories"].int_or(0)
            << " directories, " << j["symlinks"].int_or(0) << " symlinks; metadata in "
            << j["manifest"].str() << " (restore accepts either CID)\n";
  return WriteFd(1, AsBytes(j["tree"].str() + "\n"));
}

void DefineRestore(po::options_description& d, po::positional_options_description& p) {
  d.add_options()
      ("data-dir", po::value<std::string>(), "data directory")
      ("cid", po::value<std::string>()->required(),
       "snapshot: its tree, its manifest, or any UnixFS directory")
      ("bucket", po::value<std::string>()->required(), "bucket to rebuild (new or empty)")
      ("json", po::bool_switch(), "print the result as JSON");
  DefineIpfsOptions(d);
  p.add("cid", 1).add("bucket", 1);
}

Status RunRestore(const po::variables_map& vm) {
  S3XFS_ASSIGN_OR_RETURN(Cid cid, ParseCidArg(vm));
  const std::string bucket = vm["bucket"].as<std::string>();
  admin::Json req = Request("restore");
  req.Set("cid", cid.ToString()).Set("bucket", bucket);
  S3XFS_ASSIGN_OR_RETURN(admin::Json j, InDaemonOrHere(vm, req, "restore",
      [&](ObjectStore* store, const ProgressFn& progress) -> Result<admin::Json> {
        RestoreOptions o;
        o.progress = progress;
        S3XFS_ASSIGN_OR_RETURN(RestoreInfo info, store->Restore(cid, bucket, o));
        return admin::RestoreJson(info);
      }));
  if (vm["json"].as<bool>()) return WriteFd(1, AsBytes(j.Dump() + "\n"));
  std::string out = "restored " + bucket + ": " + std::to_string(j["files"].int_or(0)) + " files (" +
                    std::to_string(j["bytes"].int_or(0)) + " bytes), " +
                    std::to_string(j["directories"].int_or(0)) + " directories, " +
                    std::to_string(j["symlinks"].int_or(0)) + " symlinks, " +
                    std::to_string(j["links"].int_or(0)) + " hard links, " +
                    std::to_string(j["special"].int_or(0)) + " special files; " +
                    (j["metadata"].bool_or(false)
                         ? "metadata from " + j["manifest"].str()
                         : std::string("no metadata (plain UnixFS tree: default attributes)")) +
                    "\n";
  return WriteFd(1, AsBytes(out));
}

// ---- fsck ----

void DefineFsck(po::options_description& d, po::positional_options_description&) {
  d.add_options()
      ("data-dir", po::value<std::string>(), "data directory (ledger.db and blocks/)")
      ("repair", po::bool_switch(), "fix reference counts, forget absent unreferenced blocks, "
                                    "delete orphan blocks (never referenced data)");
}

// Runs fsck inside the daemon on the data directory (safe beside its writes, unlike a second
// process), showing its progress on a terminal. nullopt when no daemon runs there.
Result<std::optional<FsckReport>> FsckInDaemon(const std::string& data, bool repair) {
  admin::Json req = Request("fsck");
  req.Set("repair", repair);
  const auto timeout = std::chrono::hours(24);
  Progress bar("fsck");
  std::future<Result<std::optional<admin::Json>>> call =
      std::async(std::launch::async, [&] { return AskDaemon(data, req, timeout); });
  while (bar.enabled() &&
         call.wait_for(std::chrono::milliseconds(200)) != std::future_status::ready) {
    auto p = AskDaemon(data, Request("progress"), std::chrono::seconds(5));
    if (!p.ok() || !*p || !(**p)["fsck"].is_object()) continue;
    bar.SetTotal(static_cast<uint64_t>((**p)["fsck"]["total_bytes"].int_or(0)));
    bar.Set(static_cast<uint64_t>((**p)["fsck"]["done_bytes"].int_or(0)));
  }
  S3XFS_ASSIGN_OR_RETURN(auto reply, call.get());
  if (!reply) return std::optional<FsckReport>();
  S3XFS_RETURN_IF_ERROR(admin::ReplyStatus(*reply));
  const auto checked = static_cast<uint64_t>((*reply)["checked_bytes"].int_or(0));
  bar.SetTotal(checked);
  bar.Set(checked);
  bar.Finish();
  FsckReport rep;
  auto strings = [&](const char* name, std::vector<std::string>* out) {
    for (const admin::Json& e : (*reply)[name].is_array() ? (*reply)[name].array() : admin::Json::Array())
      out->push_back(e.str());
  };
  strings("missing_blocks", &rep.missing_blocks);
  strings("wrong_refcounts", &rep.wrong_refcounts);
  strings("orphan_blocks", &rep.orphan_blocks);
  strings("other", &rep.other);
  rep.repaired = static_cast<uint64_t>((*reply)["repaired"].int_or(0));
  return std::optional<FsckReport>(std::move(rep));
}

Status RunFsck(const po::variables_map& vm) {
  bool repair = vm["repair"].as<bool>();
  S3XFS_ASSIGN_OR_RETURN(std::optional<FsckReport> in_daemon, FsckInDaemon(DataDir(vm), repair));
  FsckReport rep;
  if (in_daemon) {
    rep = std::move(*in_daemon);
    std::cerr << "s3xfs fsck: checked by the daemon running on " << DataDir(vm) << "\n";
  } else {
    S3XFS_ASSIGN_OR_RETURN(auto blocks, OpenStore(vm, false));
    ObjectStoreOptions opt;
    opt.ledger_path = DataDir(vm) + "/ledger.db";
    S3XFS_ASSIGN_OR_RETURN(auto store, ObjectStore::Open(opt, blocks.get()));
    Progress bar("fsck");
    S3XFS_ASSIGN_OR_RETURN(rep, store->Fsck(repair, [&](uint64_t done, uint64_t total) {
      bar.SetTotal(total);
      bar.Set(done);
    }));
    bar.Finish();
  }
  std::string out;
  auto section = [&](const char* title, const std::vector<std::string>& items) {
    for (const std::string& i : items) out += std::string(title) + ": " + i + "\n";
  };
  section("missing block", rep.missing_blocks);
  section("wrong reference count", rep.wrong_refcounts);
  section("orphan block", rep.orphan_blocks);
  section("problem", rep.other);
  if (repair) out += "repaired: " + std::to_string(rep.repaired) + "\n";
  out += rep.clean() ? "clean\n" : "NOT clean\n";
  S3XFS_RETURN_IF_ERROR(WriteFd(1, AsBytes(out)));
  if (!rep.clean())
    return Status::Corruption(std::to_string(rep.missing_blocks.size() + rep.wrong_refcounts.size() +
                                             rep.orphan_blocks.size() + rep.other.size()) +
                              " problem(s) found");
  return Status::OK();
}

}  // namespace

std::vector<Command> DataCommands() {
  return {
      {"add", "import a file as a UnixFS DAG and print its root CID", "FILE|-", DefineAdd, RunAdd},
      {"cat", "write the bytes of a file DAG", "CID", DefineCat, RunCat},
      {"export-car", "write a CARv1 of the DAG under CID to stdout", "CID", DefineExportCar,
       RunExportCar},
      {"import-car", "import a CARv1 file and print its root CIDs", "FILE|-", DefineImportCar,
       RunImportCar},
      {"snapshot", "snapshot a bucket as a UnixFS tree (printed) with its metadata", "BUCKET [PREFIX]",
       DefineSnapshot, RunSnapshot},
      {"restore", "rebuild a bucket from a snapshot", "CID BUCKET", DefineRestore, RunRestore},
      {"fsck", "check the ledger against the block store", "", DefineFsck, RunFsck},
  };
}

}  // namespace s3xfs::cli
