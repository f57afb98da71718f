// UnixFS basic directory nodes (no HAMT sharding yet).
#pragma once

#include <string>
#include <vector>

#include "s3xfs/base/status.h"
#include "s3xfs/cas/block.h"
#include "s3xfs/cas/cid.h"

namespace s3xfs {

struct DirEntry {
  std::string name;
  Cid cid;
  uint64_t tsize = 0;  // cumulative size of the entry's DAG (DagRoot::dag_size)
};

// Builds a basic directory block: one link per entry sorted by name bytes, Data = 08 01.
// InvalidArgument for an empty name, a name with '/', "." or "..", or a duplicate name.
Result<Block> BuildBasicDirectory(std::vector<DirEntry> entries, int cid_version = 1);

}  // namespace s3xfs
