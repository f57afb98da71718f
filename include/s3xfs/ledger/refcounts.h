// Block reference counts of `s3xfs node` (TemporalX has no pin set: each put of a block adds a
// reference, each delete removes one, and the block goes when its count reaches zero).
//
// Storage: its own SQLite database (WAL, synchronous=FULL), conventionally DATA_DIR/refcounts.db,
// with one table
//   refs(mh BLOB PRIMARY KEY, count INTEGER NOT NULL) WITHOUT ROWID
// keyed by the block's multihash bytes. A block without a row has no reference; rows never hold
// a count below 1 (a row reaching zero is deleted in the same transaction). Schema migrations
// are tracked in PRAGMA user_version (docs/FORMATS.md); written to disk, never change a released
// migration.
//
// Durability: every mutating call is one transaction, on stable storage when it returns.
//
// Thread-safety: every method may be called from any thread (one connection behind a mutex;
// calls are short and serialised).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "s3xfs/base/bytes.h"
#include "s3xfs/base/status.h"

namespace s3xfs {

constexpr int kRefCountsSchemaVersion = 1;

class RefCounts {
 public:
  // Opens (creating and migrating if needed) the database at `path`. NotSupported when the file
  // has a newer schema than this build; IOError/Corruption from SQLite, naming the path.
  static Result<std::unique_ptr<RefCounts>> Open(const std::string& path);
  virtual ~RefCounts() = default;

  // Adds one reference per entry (an entry listed twice gets two), in one transaction. Returns
  // the count of each entry after its increment, in order.
  virtual Result<std::vector<int64_t>> Increment(std::span<const Bytes> mhs) = 0;

  struct Decremented {
    std::vector<Bytes> reached_zero;  // rows deleted by this call, in entry order
    std::vector<Bytes> missing;       // entries that had no row (nothing changed for them)
  };
  // Removes one reference per entry, in one transaction; a count reaching zero deletes its row.
  virtual Result<Decremented> Decrement(std::span<const Bytes> mhs) = 0;

  // Deletes the rows of the entries whatever their counts (forced deletes). Returns how many
  // rows existed.
  virtual Result<int64_t> Drop(std::span<const Bytes> mhs) = 0;

  // The count of one block; 0 when it has no row.
  virtual Result<int64_t> Get(ByteView mh) = 0;
  // Counts of several blocks (0 for no row), in order, from one consistent snapshot.
  virtual Result<std::vector<int64_t>> GetMany(std::span<const Bytes> mhs) = 0;
  // Rows in multihash byte order, at most `limit` of them (limit <= 0: all).
  virtual Result<std::vector<std::pair<Bytes, int64_t>>> All(int64_t limit) = 0;

  // Checkpoints the WAL into the database file (commits are already durable; this keeps the
  // WAL short and the main file self-contained).
  virtual Status Checkpoint() = 0;

  virtual int schema_version() const = 0;
};

}  // namespace s3xfs
