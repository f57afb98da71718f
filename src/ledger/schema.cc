// Ledger schema migrations. Migration N brings PRAGMA user_version from N-1 to N. Never edit a
// released migration; add a new one. Documented in docs/FORMATS.md.
#include "schema.h"

namespace s3xfs::ledger_schema {

const std::vector<std::string>& Migrations() {
  static const std::vector<std::string> m = {
      // 1: initial schema.
      R"sql(
CREATE TABLE buckets(
  name TEXT PRIMARY KEY,
  created_ns INTEGER NOT NULL,
  owner TEXT NOT NULL DEFAULT '',
  root_ino INTEGER NOT NULL,
  snapshot_cid BLOB
);
CREATE TABLE inodes(
  ino INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: the kernel may still hold old numbers
  kind INTEGER NOT NULL,
  mode INTEGER NOT NULL,
  uid INTEGER NOT NULL,
  gid INTEGER NOT NULL,
  rdev INTEGER NOT NULL DEFAULT 0,
  nlink INTEGER NOT NULL,
  size INTEGER NOT NULL DEFAULT 0,
  atime_ns INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL,
  ctime_ns INTEGER NOT NULL,
  btime_ns INTEGER NOT NULL,
  root_cid BLOB,
  etag TEXT NOT NULL DEFAULT '',
  content_type TEXT NOT NULL DEFAULT '',
  content_encoding TEXT NOT NULL DEFAULT '',
  content_disposition TEXT NOT NULL DEFAULT '',
  content_language TEXT NOT NULL DEFAULT '',
  cache_control TEXT NOT NULL DEFAULT '',
  expires TEXT NOT NULL DEFAULT '',
  symlink BLOB,
  generation INTEGER NOT NULL DEFAULT 0
);
INSERT INTO inodes(ino, kind, mode, uid, gid, nlink, atime_ns, mtime_ns, ctime_ns, btime_ns)
  VALUES (1, 2, 493, 0, 0, 2, CAST(strftime('%s','now') AS INTEGER) * 1000000000,
          CAST(strftime('%s','now') AS INTEGER) * 1000000000,
          CAST(strftime('%s','now') AS INTEGER) * 1000000000,
          CAST(strftime('%s','now') AS INTEGER) * 1000000000);
CREATE TABLE dentries(
  bucket TEXT NOT NULL,
  key BLOB NOT NULL,
  ino INTEGER NOT NULL,
  parent INTEGER NOT NULL,
  name BLOB NOT NULL,
  implicit INTEGER NOT NULL DEFAULT 0,
  dir INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(bucket, key)
) WITHOUT ROWID;
CREATE UNIQUE INDEX dentries_by_parent ON dentries(parent, name) WHERE parent != 0;
CREATE INDEX dentries_subdirs ON dentries(parent) WHERE dir = 1;
CREATE INDEX dentries_by_ino ON dentries(ino);
CREATE TABLE xattrs(
  ino INTEGER NOT NULL,
  name BLOB NOT NULL,
  value BLOB NOT NULL,
  PRIMARY KEY(ino, name)
) WITHOUT ROWID;
CREATE TABLE uses(
  ino INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  cid BLOB NOT NULL,
  size INTEGER NOT NULL,
  leaf INTEGER NOT NULL,
  PRIMARY KEY(ino, seq)
) WITHOUT ROWID;
CREATE TABLE blocks(
  mh BLOB PRIMARY KEY,
  size INTEGER NOT NULL,
  refs INTEGER NOT NULL,
  zero_since_ns INTEGER
) WITHOUT ROWID;
CREATE INDEX blocks_unused ON blocks(zero_since_ns) WHERE refs = 0;
CREATE TABLE uploads(
  upload_id TEXT PRIMARY KEY,
  bucket TEXT NOT NULL,
  key BLOB NOT NULL,
  created_ns INTEGER NOT NULL,
  ino INTEGER NOT NULL
);
CREATE INDEX uploads_by_key ON uploads(bucket, key);
CREATE TABLE parts(
  upload_id TEXT NOT NULL,
  part_no INTEGER NOT NULL,
  ino INTEGER NOT NULL,
  size INTEGER NOT NULL,
  etag TEXT NOT NULL,
  modified_ns INTEGER NOT NULL,
  PRIMARY KEY(upload_id, part_no)
) WITHOUT ROWID;
CREATE TABLE pins(
  cid BLOB PRIMARY KEY,
  ino INTEGER NOT NULL,
  created_ns INTEGER NOT NULL
);
)sql",
      // 2: the queue of block operations a remote block store (TemporalX, Kubo) still needs.
      R"sql(
CREATE TABLE remote_queue(
  mh BLOB PRIMARY KEY,
  op INTEGER NOT NULL,         -- 1: upload (the remote does not have it yet), 2: delete
  codec INTEGER NOT NULL,      -- multicodec of the CID it is used under (0: unknown)
  size INTEGER NOT NULL,
  queued_ns INTEGER NOT NULL   -- upload order; pushed later after a local failure
) WITHOUT ROWID;
CREATE INDEX remote_queue_order ON remote_queue(op, queued_ns);
CREATE TABLE settings(
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
)sql",
      // 3: the recursive pins a remote that pins roots (Kubo) should hold, one per root CID in use.
      R"sql(
CREATE TABLE remote_pins(
  cid BLOB PRIMARY KEY,        -- binary CID of the root
  refs INTEGER NOT NULL,       -- linked inodes with content, and ledger pins, using it
  pinned INTEGER NOT NULL,     -- 1: the remote holds our pin of it
  replaces BLOB,               -- a pinned root, no longer used, whose pin this one's moves from
  queued_ns INTEGER NOT NULL   -- when the work became due (after the uploads queued with it)
) WITHOUT ROWID;
CREATE INDEX remote_pins_work ON remote_pins(queued_ns) WHERE (refs > 0) != (pinned != 0);
CREATE INDEX remote_pins_replaces ON remote_pins(replaces) WHERE replaces IS NOT NULL;
)sql",
      // 4: files whose ETag is still to be computed (written through the mount out of order).
      R"sql(
CREATE INDEX inodes_etag_pending ON inodes(ino) WHERE kind = 1 AND etag = '';
)sql",
  };
  return m;
}

}  // namespace s3xfs::ledger_schema
