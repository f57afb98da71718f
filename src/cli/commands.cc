#include "commands.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <iostream>

#include "s3xfs/blockstore/embedded.h"
#include "s3xfs/cas/car.h"
#include "s3xfs/cas/dag_builder.h"
#include "s3xfs/cas/dag_reader.h"

namespace po = boost::program_options;

namespace s3xfs::cli {

namespace {

constexpr size_t kReadBuffer = 1u << 20;
constexpr size_t kPutBatchBytes = 4u << 20;

Status WriteFd(int fd, ByteView data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("writing output", errno);
    }
    data = data.subspan(static_cast<size_t>(n));
  }
  return Status::OK();
}

// Opens FILE or "-" (stdin) for reading.
Result<int> OpenInput(const std::string& path) {
  if (path == "-") return 0;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("cannot read " + path, errno);
  return fd;
}

// Reads the whole input in fixed-size pieces, calling fn for each.
Status ReadAll(int fd, const std::string& name, const std::function<Status(ByteView)>& fn) {
  Bytes buf(kReadBuffer);
  for (;;) {
    // Fill the buffer completely when possible so whole chunks go to the builder uncopied.
    size_t got = 0;
    while (got < buf.size()) {
      ssize_t n = ::read(fd, buf.data() + got, buf.size() - got);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno("reading " + name, errno);
      }
      if (n == 0) break;
      got += static_cast<size_t>(n);
    }
    if (got == 0) return Status::OK();
    S3XFS_RETURN_IF_ERROR(fn(ByteView(buf.data(), got)));
  }
}

Result<std::unique_ptr<BlockStore>> OpenStore(const po::variables_map& vm, bool bulk) {
  std::string dir = vm.count("data-dir") ? vm["data-dir"].as<std::string>() : DefaultDataDir();
  EmbeddedOptions opt;
  opt.sync_each_put = !bulk;  // bulk imports sync once at the end
  return OpenEmbeddedStore(dir, opt);
}

Result<Cid> ParseCidArg(const po::variables_map& vm) {
  return Cid::Parse(vm["cid"].as<std::string>());
}

// ---- add ----

void DefineAdd(po::options_description& d, po::positional_options_description& p) {
  d.add_options()
      ("cid-version", po::value<int>()->default_value(1),
       "1: CIDv1, raw leaves (= ipfs add --cid-version=1); 0: CIDv0 (= plain ipfs add)")
      ("only-hash,n", po::bool_switch(), "compute the CID without storing blocks")
      ("data-dir", po::value<std::string>(), "data directory (block store under DIR/blocks)")
      ("file", po::value<std::string>()->required(), "file to add, or - for stdin");
  p.add("file", 1);
}

Status RunAdd(const po::variables_map& vm) {
  int version = vm["cid-version"].as<int>();
  if (version != 0 && version != 1) return Status::InvalidArgument("--cid-version must be 0 or 1");
  DagOptions opt = version == 1 ? DagOptions::KuboV1() : DagOptions::KuboV0();
  bool only_hash = vm["only-hash"].as<bool>();
  const std::string& path = vm["file"].as<std::string>();

  std::unique_ptr<BlockStore> store;
  if (!only_hash) {
    S3XFS_ASSIGN_OR_RETURN(store, OpenStore(vm, /*bulk=*/true));
  }
  S3XFS_ASSIGN_OR_RETURN(int fd, OpenInput(path));
  // Blocks are copied into a batch and written with one PutMany per ~4 MiB.
  std::vector<Block> batch;
  size_t batch_bytes = 0;
  auto flush = [&]() -> Status {
    if (batch.empty()) return Status::OK();
    std::vector<BlockRef> refs;
    refs.reserve(batch.size());
    for (const Block& b : batch) refs.push_back(BlockRef{b.cid, b.data});
    S3XFS_RETURN_IF_ERROR(store->PutMany(refs));
    batch.clear();
    batch_bytes = 0;
    return Status::OK();
  };
  DagBuilder::BlockSink sink;
  if (store) {
    sink = [&](const Cid& cid, ByteView data, bool) -> Status {
      batch.push_back(Block{cid, Bytes(data.begin(), data.end())});
      batch_bytes += data.size();
      return batch_bytes >= kPutBatchBytes ? flush() : Status::OK();
    };
  }
  DagBuilder builder(opt, sink);
  Status st = ReadAll(fd, path, [&](ByteView piece) { return builder.Write(piece); });
  if (fd != 0) ::close(fd);
  S3XFS_RETURN_IF_ERROR(st);
  S3XFS_ASSIGN_OR_RETURN(DagRoot root, builder.Finish());
  if (store) {
    S3XFS_RETURN_IF_ERROR(flush());
    S3XFS_RETURN_IF_ERROR(store->Sync());
  }
  std::string line = root.cid.ToString() + "\n";
  return WriteFd(1, AsBytes(line));
}

// ---- cat ----

void DefineCat(po::options_description& d, po::positional_options_description& p) {
  d.add_options()
      ("offset", po::value<uint64_t>()->default_value(0), "first byte to write")
      ("length", po::value<uint64_t>(), "number of bytes to write (default: to the end)")
      ("data-dir", po::value<std::string>(), "data directory")
      ("cid", po::value<std::string>()->required(), "root CID of the file");
  p.add("cid", 1);
}

Status RunCat(const po::variables_map& vm) {
  S3XFS_ASSIGN_OR_RETURN(Cid cid, ParseCidArg(vm));
  S3XFS_ASSIGN_OR_RETURN(auto store, OpenStore(vm, false));
  uint64_t offset = vm["offset"].as<uint64_t>();
  uint64_t length = vm.count("length") ? vm["length"].as<uint64_t>() : UINT64_MAX;
  DagReader reader(store.get());
  return reader.Read(cid, offset, length, [](ByteView b) { return WriteFd(1, b); });
}

// ---- export-car / import-car ----

void DefineExportCar(po::options_description& d, po::positional_options_description& p) {
  d.add_options()
      ("data-dir", po::value<std::string>(), "data directory")
      ("cid", po::value<std::string>()->required(), "root CID of the DAG");
  p.add("cid", 1);
}

Status RunExportCar(const po::variables_map& vm) {
  S3XFS_ASSIGN_OR_RETURN(Cid cid, ParseCidArg(vm));
  S3XFS_ASSIGN_OR_RETURN(auto store, OpenStore(vm, false));
  if (::isatty(1)) return Status::InvalidArgument("refusing to write a CAR to a terminal; redirect stdout");
  return ExportCar(store.get(), std::span<const Cid>(&cid, 1),
                   [](ByteView b) { return WriteFd(1, b); });
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
  CarReader reader([fd, &path](uint8_t* buf, size_t n) -> Result<size_t> {
    for (;;) {
      ssize_t r = ::read(fd, buf, n);
      if (r >= 0) return static_cast<size_t>(r);
      if (errno != EINTR) return Status::FromErrno("reading " + path, errno);
    }
  });
  auto run = [&]() -> Result<std::vector<Cid>> {
    S3XFS_ASSIGN_OR_RETURN(std::vector<Cid> roots, reader.ReadHeader());
    std::vector<Block> batch;
    size_t batch_bytes = 0;
    auto flush = [&]() -> Status {
      std::vector<BlockRef> refs;
      for (const Block& b : batch) refs.push_back(BlockRef{b.cid, b.data});
      S3XFS_RETURN_IF_ERROR(store->PutMany(refs));
      batch.clear();
      batch_bytes = 0;
      return Status::OK();
    };
    for (;;) {
      auto next = reader.Next();  // verified against its CID
      if (!next.ok())
        return Status(Status::Corruption(path + ": " + next.status().message()));
      if (!next->has_value()) break;
      batch_bytes += (*next)->data.size();
      batch.push_back(std::move(**next));
      if (batch_bytes >= kPutBatchBytes) S3XFS_RETURN_IF_ERROR(flush());
    }
    S3XFS_RETURN_IF_ERROR(flush());
    S3XFS_RETURN_IF_ERROR(store->Sync());
    return roots;
  };
  auto roots = run();
  if (fd != 0) ::close(fd);
  if (!roots.ok()) return roots.status();
  std::string out;
  for (const Cid& r : *roots) {
    auto has = store->Has(r);
    if (has.ok() && !*has)
      std::cerr << "s3xfs import-car: warning: root " << r.ToString() << " is not in the CAR\n";
    out += r.ToString() + "\n";
  }
  return WriteFd(1, AsBytes(out));
}

}  // namespace

const std::vector<Command>& Commands() {
  static const std::vector<Command> cmds = {
      {"add", "import a file as a UnixFS DAG and print its root CID", "FILE|-", DefineAdd, RunAdd},
      {"cat", "write the bytes of a file DAG", "CID", DefineCat, RunCat},
      {"export-car", "write a CARv1 of the DAG under CID to stdout", "CID", DefineExportCar,
       RunExportCar},
      {"import-car", "import a CARv1 file and print its root CIDs", "FILE|-", DefineImportCar,
       RunImportCar},
  };
  return cmds;
}

int RunCommand(const Command& c, const std::vector<std::string>& args) {
  po::options_description desc(std::string("s3xfs ") + c.name + " [options] " +
                               c.positional_usage + "\n" + c.summary + "\n\noptions");
  desc.add_options()("help,h", "show this help");
  po::positional_options_description pos;
  c.define(desc, pos);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).positional(pos).run(), vm);
    if (vm.count("help")) {
      std::cout << desc << "\n";
      return 0;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "s3xfs " << c.name << ": " << e.what() << "\n"
              << "usage: s3xfs " << c.name << " [options] " << c.positional_usage
              << " (see --help)\n";
    return 2;
  }
  Status st = c.run(vm);
  if (!st.ok()) {
    std::cerr << "s3xfs " << c.name << ": " << st.message() << "\n";
    return st.code() == Status::Code::kInvalidArgument ? 2 : 1;
  }
  return 0;
}

std::string DefaultDataDir() {
  if (const char* d = std::getenv("S3XFS_DATA_DIR"); d && *d) return d;
  if (::geteuid() == 0) return "/var/lib/s3xfs";
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) return std::string(x) + "/s3xfs";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.local/share/s3xfs";
  return ".s3xfs";
}

}  // namespace s3xfs::cli
