#include "s3xfs/ledger/refcounts.h"

#include <mutex>

#include "sqlite.h"

namespace s3xfs {

namespace {

using sql::Db;

// Migration i (0-based) takes the schema from version i to i + 1. Written to disk: never edit a
// released migration; add one. Documented in docs/FORMATS.md.
const std::vector<std::string>& Migrations() {
  static const std::vector<std::string> m = {
      // 1: initial schema.
      R"sql(
CREATE TABLE refs(
  mh BLOB PRIMARY KEY,
  count INTEGER NOT NULL CHECK(count > 0)
) WITHOUT ROWID;
)sql",
  };
  return m;
}

class RefCountsImpl final : public RefCounts {
 public:
  RefCountsImpl(std::unique_ptr<Db> db, int version) : db_(std::move(db)), version_(version) {}

  Result<std::vector<int64_t>> Increment(std::span<const Bytes> mhs) override {
    std::vector<int64_t> counts;
    counts.reserve(mhs.size());
    Status st = InTxn([&]() -> Status {
      for (const Bytes& mh : mhs) {
        S3XFS_ASSIGN_OR_RETURN(auto s, db_->Prepare(
            "INSERT INTO refs(mh, count) VALUES(?1, 1) "
            "ON CONFLICT(mh) DO UPDATE SET count = count + 1 RETURNING count"));
        s->BindBlob(1, mh);
        if (!s->Step()) {
          S3XFS_RETURN_IF_ERROR(s->status());
          return Status::Internal("refcounts: increment returned no row");
        }
        counts.push_back(s->Int(0));
        S3XFS_RETURN_IF_ERROR(s->Exec());
      }
      return Status::OK();
    });
    if (!st.ok()) return st;
    return counts;
  }

  Result<Decremented> Decrement(std::span<const Bytes> mhs) override {
    Decremented out;
    Status st = InTxn([&]() -> Status {
      for (const Bytes& mh : mhs) {
        S3XFS_ASSIGN_OR_RETURN(auto s, db_->Prepare(
            "UPDATE refs SET count = count - 1 WHERE mh = ?1 AND count > 1 RETURNING count"));
        s->BindBlob(1, mh);
        bool updated = s->Step();
        S3XFS_RETURN_IF_ERROR(s->Exec());
        if (updated) continue;
        // The count was 1 (or there is no row): delete it.
        S3XFS_ASSIGN_OR_RETURN(auto d, db_->Prepare("DELETE FROM refs WHERE mh = ?1"));
        d->BindBlob(1, mh);
        S3XFS_RETURN_IF_ERROR(d->Exec());
        (db_->changes() > 0 ? out.reached_zero : out.missing).push_back(mh);
      }
      return Status::OK();
    });
    if (!st.ok()) return st;
    return out;
  }

  Result<int64_t> Drop(std::span<const Bytes> mhs) override {
    int64_t dropped = 0;
    Status st = InTxn([&]() -> Status {
      for (const Bytes& mh : mhs) {
        S3XFS_ASSIGN_OR_RETURN(auto d, db_->Prepare("DELETE FROM refs WHERE mh = ?1"));
        d->BindBlob(1, mh);
        S3XFS_RETURN_IF_ERROR(d->Exec());
        dropped += db_->changes();
      }
      return Status::OK();
    });
    if (!st.ok()) return st;
    return dropped;
  }

  Result<int64_t> Get(ByteView mh) override {
    std::lock_guard<std::mutex> l(mu_);
    return GetLocked(mh);
  }

  Result<std::vector<int64_t>> GetMany(std::span<const Bytes> mhs) override {
    std::vector<int64_t> counts;
    counts.reserve(mhs.size());
    // A read transaction: one snapshot for all the lookups.
    Status st = InTxn([&]() -> Status {
      for (const Bytes& mh : mhs) {
        S3XFS_ASSIGN_OR_RETURN(int64_t c, GetLocked(mh));
        counts.push_back(c);
      }
      return Status::OK();
    }, "BEGIN");
    if (!st.ok()) return st;
    return counts;
  }

  Result<std::vector<std::pair<Bytes, int64_t>>> All(int64_t limit) override {
    std::lock_guard<std::mutex> l(mu_);
    S3XFS_ASSIGN_OR_RETURN(auto s, db_->Prepare("SELECT mh, count FROM refs ORDER BY mh LIMIT ?1"));
    s->Bind(1, limit > 0 ? limit : int64_t{-1});  // LIMIT -1: no limit
    std::vector<std::pair<Bytes, int64_t>> rows;
    while (s->Step()) rows.emplace_back(s->Blob(0), s->Int(1));
    S3XFS_RETURN_IF_ERROR(s->status());
    return rows;
  }

  Status Checkpoint() override {
    std::lock_guard<std::mutex> l(mu_);
    return db_->ExecScript("PRAGMA wal_checkpoint(TRUNCATE)");
  }

  int schema_version() const override { return version_; }

 private:
  // REQUIRES: mu_ held.
  Result<int64_t> GetLocked(ByteView mh) {
    S3XFS_ASSIGN_OR_RETURN(auto s, db_->Prepare("SELECT count FROM refs WHERE mh = ?1"));
    s->BindBlob(1, mh);
    int64_t count = s->Step() ? s->Int(0) : 0;
    S3XFS_RETURN_IF_ERROR(s->status());
    return count;
  }

  // Runs fn inside one transaction under the mutex; rolls back when fn or COMMIT fails.
  template <typename Fn>
  Status InTxn(Fn&& fn, const char* begin = "BEGIN IMMEDIATE") {
    std::lock_guard<std::mutex> l(mu_);
    S3XFS_RETURN_IF_ERROR(db_->ExecScript(begin));
    Status st = fn();
    if (st.ok()) st = db_->ExecScript("COMMIT");
    if (!st.ok()) db_->ExecScript("ROLLBACK");  // harmless error when COMMIT already ended it
    return st;
  }

  std::mutex mu_;
  std::unique_ptr<Db> db_;  // GUARDED_BY(mu_)
  const int version_;
};

}  // namespace

Result<std::unique_ptr<RefCounts>> RefCounts::Open(const std::string& path) {
  S3XFS_ASSIGN_OR_RETURN(auto db, Db::Open(path, true));
  // WAL + synchronous=FULL: a commit is on stable storage when it returns, so a count the node
  // acknowledged survives power loss.
  S3XFS_RETURN_IF_ERROR(db->ExecScript("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"));
  S3XFS_ASSIGN_OR_RETURN(int version, db->Migrate(Migrations(), "reference counts " + path));
  return std::unique_ptr<RefCounts>(new RefCountsImpl(std::move(db), version));
}

}  // namespace s3xfs
