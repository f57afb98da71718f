// MeteredStore: a BlockStore that forwards every call to another and counts it in the global
// metrics registry (s3xfs/base/metrics.h) under the label store="NAME":
//
//   s3xfs_blockstore_operations_total{store,op}      blocks asked for / stored / ..., per call
//                                                   (GetMany and PutMany count each block;
//                                                   op "pin"/"unpin": root pins)
//   s3xfs_blockstore_errors_total{store,op,kind}     failed operations by Status code
//                                                   (not_found, corruption, io, unavailable,
//                                                   timeout, ...)
//   s3xfs_blockstore_read_bytes_total{store}         bytes of blocks returned by Get/GetMany
//   s3xfs_blockstore_written_bytes_total{store}      bytes of blocks stored by Put/PutMany
//
// Has() answering false is not an error. Thread-safety: as the wrapped store.
#pragma once

#include <memory>
#include <string>

#include "s3xfs/blockstore/blockstore.h"

namespace s3xfs {

// `inner` is not owned and must outlive the result.
std::unique_ptr<BlockStore> NewMeteredStore(BlockStore* inner, const std::string& name);

// The `kind` label of a failed Status: "not_found", "corruption", "invalid_argument", "io",
// "unavailable", "already_exists", "not_supported", "timeout", "internal".
const char* ErrorKind(const Status& status);

}  // namespace s3xfs
