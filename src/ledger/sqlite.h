// Thin RAII wrappers over the SQLite C API (internal to the ledger). Errors become Status once,
// here, with the SQLite message and the statement that failed.
#pragma once

#include <sqlite3.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "s3xfs/base/bytes.h"
#include "s3xfs/base/status.h"

namespace s3xfs::sql {

class Db;

// A prepared statement borrowed from its connection's cache; reset and unbound on destruction.
class Stmt {
 public:
  Stmt(sqlite3_stmt* s, Db* db) : s_(s), db_(db) {}
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& Bind(int i, int64_t v);
  Stmt& Bind(int i, std::string_view text);
  Stmt& BindBlob(int i, ByteView blob);
  Stmt& BindNull(int i);
  Stmt& Bind(int i, const std::optional<int64_t>& v) { return v ? Bind(i, *v) : BindNull(i); }

  // Advances: true while a row is available, false when done. Errors land in status().
  bool Step();
  // Runs to completion expecting no rows.
  Status Exec();
  Status status() const { return st_; }

  int64_t Int(int col) const { return sqlite3_column_int64(s_, col); }
  bool IsNull(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
  std::string Text(int col) const;
  Bytes Blob(int col) const;

 private:
  sqlite3_stmt* s_;
  Db* db_;
  Status st_;
};

class Db {
 public:
  static Result<std::unique_ptr<Db>> Open(const std::string& path, bool create);
  ~Db();
  // Statements are prepared once per connection and reused; `sql` must be a string literal (its
  // address is the cache key).
  Result<std::unique_ptr<Stmt>> Prepare(const char* sql);
  // One statement without parameters or rows (BEGIN, COMMIT), prepared once like Prepare's.
  Status Exec(const char* sql);
  // One-off statements (schema, pragmas); may contain several.
  Status ExecScript(const std::string& sql);
  // Brings PRAGMA user_version up to migrations.size(): migration N (index N-1) runs in its own
  // transaction and sets the version to N. `what` names the database in errors ("ledger X").
  // NotSupported (nothing touched) when the database is newer than the migrations; returns the
  // final version.
  Result<int> Migrate(const std::vector<std::string>& migrations, const std::string& what);
  Status Error(std::string_view what) const;
  sqlite3* raw() { return db_; }
  int64_t changes() const { return sqlite3_changes64(db_); }
  int64_t last_rowid() const { return sqlite3_last_insert_rowid(db_); }

 private:
  explicit Db(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::unordered_map<const char*, sqlite3_stmt*> cache_;
};

}  // namespace s3xfs::sql
