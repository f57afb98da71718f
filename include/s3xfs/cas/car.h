// CARv1: writer, streaming reader, and DAG export.
//
// Format: varint(len(header)) header, then per block varint(len(cid)+len(data)) cid data. The
// header is DAG-CBOR {"roots": [CID...], "version": 1}.
//
// Thread-safety: a writer or reader is used by one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "s3xfs/base/bytes.h"
#include "s3xfs/base/status.h"
#include "s3xfs/cas/block.h"
#include "s3xfs/cas/cid.h"

namespace s3xfs {

// Largest CAR section (CID + block) the reader accepts; bigger sections are Corruption, so a
// hostile file cannot make us allocate without bound. IPFS blocks are at most 2 MiB in practice.
constexpr size_t kMaxCarSection = 8u << 20;

// The exact CARv1 header bytes (including its length varint) for `roots`.
Bytes EncodeCarHeader(std::span<const Cid> roots);

class CarWriter {
 public:
  using Output = std::function<Status(ByteView)>;
  explicit CarWriter(Output out) : out_(std::move(out)) {}
  Status WriteHeader(std::span<const Cid> roots);
  Status WriteBlock(const Cid& cid, ByteView data);
  uint64_t bytes_written() const { return written_; }

 private:
  Output out_;
  uint64_t written_ = 0;
};

class CarReader {
 public:
  // Reads up to n bytes into buf; returns the count, 0 only at end of input.
  using Input = std::function<Result<size_t>(uint8_t* buf, size_t n)>;
  explicit CarReader(Input in) : in_(std::move(in)) {}

  // Reads and checks the header. Call once, first. Corruption when it is not a CARv1 header.
  Result<std::vector<Cid>> ReadHeader();
  // The next block, verified against its CID; std::nullopt at the clean end of the input.
  // Corruption on truncation, an oversized section, or bytes that do not hash to the CID.
  Result<std::optional<Block>> Next();
  uint64_t bytes_read() const { return read_; }

 private:
  // Reads exactly n bytes; *eof set (and OK) when the input ends before the first byte.
  Status ReadExact(uint8_t* buf, size_t n, bool* eof);
  Result<std::optional<uint64_t>> ReadSectionLength();
  Input in_;
  uint64_t read_ = 0;
};

// Writes a CAR with `roots` and every block reachable from them (depth-first, pre-order, each
// block once). Blocks are fetched from `source` in batches of `batch` siblings.
Status ExportCar(BlockSource* source, std::span<const Cid> roots, const CarWriter::Output& out,
                 size_t batch = 16);

}  // namespace s3xfs
