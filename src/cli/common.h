// Helpers shared by the subcommands: I/O on descriptors, option parsing, and opening the block
// stores (--data-dir, --ipfs) the way every command does.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "s3xfs/base/bytes.h"
#include "s3xfs/base/status.h"
#include "s3xfs/blockstore/blockstore.h"
#include "s3xfs/blockstore/tiered.h"
#include "s3xfs/core/object_store.h"

namespace s3xfs::cli {

namespace po = boost::program_options;

// Daemons (mount, serve) collect garbage this often; blocks go no earlier than the grace period
// after their last reference.
constexpr std::chrono::milliseconds kDaemonGcInterval = std::chrono::minutes(1);

// Writes all of data (retrying EINTR and short writes).
Status WriteFd(int fd, ByteView data);
// Opens FILE or "-" (stdin, fd 0) for reading.
Result<int> OpenInput(const std::string& path);
// Reads the whole input in pieces, calling fn for each (regular files in parallel slices).
Status ReadAll(int fd, const std::string& name, const std::function<Status(ByteView)>& fn);

// path made absolute against the current directory (daemons chdir("/") when they detach).
std::string AbsolutePath(const std::string& path);
// --data-dir, else DefaultDataDir(), as an absolute path.
std::string DataDir(const po::variables_map& vm);
// The embedded store of the data directory. Writers (bulk: add, import-car) create it and sync
// once at the end; readers require it.
Result<std::unique_ptr<BlockStore>> OpenStore(const po::variables_map& vm, bool bulk);

// --ipfs and --ipfs-tls-ca.
void DefineIpfsOptions(po::options_description& d);
// The remote block store named by --ipfs, or null for the embedded one.
Result<std::unique_ptr<BlockStore>> OpenRemote(const po::variables_map& vm);
// What one-shot commands (add, cat, export-car) read and write: the remote node when --ipfs
// names one (blocks go straight to it; its reference counts keep them), else the embedded store.
Result<std::unique_ptr<BlockStore>> OpenCommandStore(const po::variables_map& vm, bool bulk,
                                                     bool* remote);

// The daemons' block stores: the embedded store, and with a remote node a TieredStore over
// both (the embedded store is then the write-back copy the upload queue drains). `local` and
// `remote` count their calls in the metrics (s3xfs_blockstore_*{store="local"|"remote"}).
struct DaemonBlocks {
  std::unique_ptr<BlockStore> local_store, remote_store;  // what local and remote forward to
  std::unique_ptr<BlockStore> local, remote, tiered;
  BlockStore* view() const { return tiered ? tiered.get() : local.get(); }
};
Result<DaemonBlocks> OpenDaemonBlocks(const po::variables_map& vm, bool create);
// Tells what the upload queue still holds when a daemon stops (it resumes at the next start).
void ReportQueueAtExit(ObjectStore* store);

// A non-negative decimal option (Boost would wrap "-1" into 2^64-1 for unsigned types).
Result<uint64_t> ParseCount(const po::variables_map& vm, const char* name, uint64_t dflt);
// Records an imported DAG in the data directory's ledger so GC and fsck keep its blocks.
Status PinInLedger(const po::variables_map& vm, BlockStore* blocks, const Cid& root,
                   const std::vector<BlockUse>& uses);
// The positional "cid" option.
Result<Cid> ParseCidArg(const po::variables_map& vm);
// s as a JSON string literal.
std::string JsonString(const std::string& s);

}  // namespace s3xfs::cli
