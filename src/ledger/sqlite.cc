#include "sqlite.h"

namespace s3xfs::sql {

Stmt::~Stmt() {
  sqlite3_reset(s_);
  sqlite3_clear_bindings(s_);
}

Stmt& Stmt::Bind(int i, int64_t v) {
  sqlite3_bind_int64(s_, i, v);
  return *this;
}
Stmt& Stmt::Bind(int i, std::string_view text) {
  sqlite3_bind_text(s_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::BindBlob(int i, ByteView blob) {
  // A zero-length blob must still be a blob (not NULL): give SQLite a valid pointer.
  static const uint8_t kEmpty = 0;
  sqlite3_bind_blob(s_, i, blob.empty() ? &kEmpty : blob.data(), static_cast<int>(blob.size()),
                    SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::BindNull(int i) {
  sqlite3_bind_null(s_, i);
  return *this;
}

bool Stmt::Step() {
  int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc != SQLITE_DONE)
    st_ = db_->Error(std::string("statement \"") + sqlite3_sql(s_) + "\"");
  return false;
}

Status Stmt::Exec() {
  while (Step()) {
  }
  return st_;
}

std::string Stmt::Text(int col) const {
  const unsigned char* p = sqlite3_column_text(s_, col);
  int n = sqlite3_column_bytes(s_, col);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
}

Bytes Stmt::Blob(int col) const {
  const uint8_t* p = static_cast<const uint8_t*>(sqlite3_column_blob(s_, col));
  int n = sqlite3_column_bytes(s_, col);
  return p ? Bytes(p, p + n) : Bytes();
}

Result<std::unique_ptr<Db>> Db::Open(const std::string& path, bool create) {
  sqlite3* raw = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    sqlite3_close(raw);
    return Status::IOError("opening ledger " + path + ": " + msg);
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, 10000);
  return std::unique_ptr<Db>(new Db(raw));
}

Db::~Db() {
  for (auto& [k, s] : cache_) sqlite3_finalize(s);
  sqlite3_close(db_);
}

Result<std::unique_ptr<Stmt>> Db::Prepare(const char* sql) {
  auto it = cache_.find(sql);
  sqlite3_stmt* s = nullptr;
  if (it != cache_.end()) {
    s = it->second;
  } else {
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK)
      return Error(std::string("preparing \"") + sql + "\"");
    cache_.emplace(sql, s);
  }
  return std::make_unique<Stmt>(s, this);
}

Status Db::Exec(const char* sql) {
  S3XFS_ASSIGN_OR_RETURN(auto s, Prepare(sql));
  return s->Exec();
}

Status Db::ExecScript(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string m = err ? err : "unknown error";
    sqlite3_free(err);
    return Status::IOError("ledger: " + m);
  }
  return Status::OK();
}

Status Db::Error(std::string_view what) const {
  int code = sqlite3_extended_errcode(db_);
  std::string msg = "ledger: " + std::string(what) + ": " + sqlite3_errmsg(db_);
  if ((code & 0xff) == SQLITE_CONSTRAINT) return Status::AlreadyExists(msg);
  if ((code & 0xff) == SQLITE_CORRUPT || (code & 0xff) == SQLITE_NOTADB) return Status::Corruption(msg);
  if ((code & 0xff) == SQLITE_BUSY) return Status::Unavailable(msg);
  return Status::IOError(msg);  // SQLITE_FULL (disk full), SQLITE_IOERR, ...
}

Result<int> Db::Migrate(const std::vector<std::string>& migrations, const std::string& what) {
  S3XFS_ASSIGN_OR_RETURN(auto v, Prepare("PRAGMA user_version"));
  v->Step();
  S3XFS_RETURN_IF_ERROR(v->status());
  int version = static_cast<int>(v->Int(0));
  v.reset();
  const int latest = static_cast<int>(migrations.size());
  if (version > latest)
    return Status::NotSupported(what + " has schema version " + std::to_string(version) +
                                ", newer than this s3xfs (" + std::to_string(latest) +
                                "); refusing to touch it");
  for (; version < latest; ++version) {
    S3XFS_RETURN_IF_ERROR(ExecScript("BEGIN IMMEDIATE"));
    Status st = ExecScript(migrations[static_cast<size_t>(version)]);
    if (st.ok()) st = ExecScript("PRAGMA user_version = " + std::to_string(version + 1));
    if (st.ok()) st = ExecScript("COMMIT");
    if (!st.ok()) {
      ExecScript("ROLLBACK");
      return Status::IOError("migrating " + what + " to version " + std::to_string(version + 1) +
                             ": " + st.message());
    }
  }
  return version;
}

}  // namespace s3xfs::sql
