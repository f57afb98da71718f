#!/usr/bin/env node
// Reference importer used by the s3xfs tests and benchmarks (not shipped).
//
// Computes the root CID that Kubo's `ipfs add` would print, using the
// reference JavaScript importer (ipfs-unixfs-importer) with Kubo's defaults:
//
//   --cid-version 1 (default here, = `ipfs add --cid-version=1`):
//       raw leaves (CIDv1 raw), 262144-byte fixed chunks, balanced layout with
//       at most 174 links per node, single-chunk files are their own leaf.
//   --cid-version 0 (= plain `ipfs add`):
//       dag-pb UnixFS File leaves, CIDv0 everywhere, same chunker and layout.
//
// Usage:
//   node ref-add.mjs [--cid-version 0|1] [FILE|-]...    (no FILE = stdin)
//   node ref-add.mjs [--cid-version 0|1] [--hidden] --dir DIR
//
// --dir imports DIR recursively and prints the CID of DIR itself, like
// `ipfs add -r -Q [--cid-version=1] DIR`. As with Kubo, entries whose names
// start with '.' are skipped unless --hidden is given; symlinks are stored as
// UnixFS symlink nodes (not followed); other special files are an error.
//
// Known bug worked around here: protons-runtime (<= 8.0.1, used by ipfs-unixfs
// to encode UnixFS Data) writes uint64 values in [2^31, 2^32) wrongly: LongBits
// stores the low word as a signed int32, so writeVarint64 emits one byte where
// it reserved five, and the other four come from uninitialised pool memory.
// A file of 2..4 GiB thus gets a root `filesize` of garbage and a CID that even
// changes between runs, where Kubo (Go, uint64) writes the correct varint.
// fixProtonsUint64() patches every copy of protons-runtime under node_modules
// and then checks that every copy of ipfs-unixfs encodes such values correctly.
//
// Data is streamed and blocks are discarded after hashing (the blockstore only
// counts), so memory use is bounded (~100-200 MB RSS, mostly Node itself)
// whatever the input size.
// Prints one line per input (the root CID), in argument order; several FILEs
// in one call save Node's start-up time in the tests. Errors: one line on
// stderr, exit status 1.

import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { importer } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'

const CHUNK_SIZE = 262144
const MAX_LINKS = 174

function usage (msg) {
  if (msg) process.stderr.write(`ref-add: ${msg}\n`)
  process.stderr.write('usage: ref-add.mjs [--cid-version 0|1] [FILE|-]...\n' +
                       '       ref-add.mjs [--cid-version 0|1] [--hidden] --dir DIR\n')
  process.exit(2)
}

function parseArgs (argv) {
  const opts = { cidVersion: 1, files: [], dir: null, hidden: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    let m
    if (a === '--cid-version' || a === '--dir') {
      if (i + 1 >= argv.length) usage(`${a} needs a value`)
      const v = argv[++i]
      if (a === '--dir') opts.dir = v
      else opts.cidVersion = parseCidVersion(v)
    } else if ((m = /^--cid-version=(.*)$/.exec(a))) {
      opts.cidVersion = parseCidVersion(m[1])
    } else if ((m = /^--dir=(.*)$/.exec(a))) {
      opts.dir = m[1]
    } else if (a === '--hidden' || a === '-H') {
      opts.hidden = true
    } else if (a === '-h' || a === '--help') {
      usage()
    } else if (a === '-' || !a.startsWith('-')) {
      opts.files.push(a)
    } else {
      usage(`unknown option ${a}`)
    }
  }
  if (opts.dir !== null && opts.files.length > 0) usage('give either FILE or --dir DIR, not both')
  if (opts.files.filter((f) => f === '-').length > 1) usage('stdin (-) may be given only once')
  if (opts.dir === null && opts.files.length === 0) opts.files.push('-')
  return opts
}

function parseCidVersion (v) {
  if (v === '0') return 0
  if (v === '1') return 1
  usage(`invalid --cid-version ${JSON.stringify(v)} (must be 0 or 1)`)
}

function importerOptions (cidVersion) {
  const common = {
    chunker: fixedSize({ chunkSize: CHUNK_SIZE }),
    layout: balanced({ maxChildrenPerNode: MAX_LINKS }),
    reduceSingleLeafToSelf: true,
    // Kubo's HAMT switch: sum(len(name) + len(cid bytes)) > 262144
    shardSplitThresholdBytes: 262144,
    shardSplitStrategy: 'links-bytes',
    shardFanoutBits: 8,
    wrapWithDirectory: false
  }
  if (cidVersion === 1) {
    return { ...common, cidVersion: 1, rawLeaves: true }
  }
  return { ...common, cidVersion: 0, rawLeaves: false, leafType: 'file' }
}

// Package directories named `name` under node_modules (nested copies too).
function findPackages (name) {
  const top = path.join(path.dirname(fileURLToPath(import.meta.url)), 'node_modules')
  const found = []
  const visitNodeModules = (nm, depth) => {
    let entries
    try { entries = fs.readdirSync(nm) } catch { return }
    for (const e of entries) {
      if (e.startsWith('.')) continue
      if (e.startsWith('@')) {
        let scoped
        try { scoped = fs.readdirSync(path.join(nm, e)) } catch { continue }
        for (const s of scoped) visitPackage(path.join(nm, e, s), `${e}/${s}`, depth)
      } else {
        visitPackage(path.join(nm, e), e, depth)
      }
    }
  }
  const visitPackage = (dir, pkgName, depth) => {
    if (pkgName === name) found.push(fs.realpathSync(dir))
    if (depth < 6) visitNodeModules(path.join(dir, 'node_modules'), depth + 1)
  }
  visitNodeModules(top, 0)
  return [...new Set(found)]
}

async function fixProtonsUint64 () {
  for (const dir of findPackages('protons-runtime')) {
    const file = path.join(dir, 'dist', 'src', 'utils', 'longbits.js')
    if (!fs.existsSync(file)) continue
    const { LongBits } = await import(pathToFileURL(file).href)
    if (LongBits == null || LongBits.__s3xfsUnsignedFix) continue
    const unsigned = (bits) => {
      if (bits.lo < 0) bits.lo = bits.lo >>> 0
      if (bits.hi < 0) bits.hi = bits.hi >>> 0
      return bits
    }
    const fromNumber = LongBits.fromNumber
    const fromBigInt = LongBits.fromBigInt
    LongBits.fromNumber = function (value) { return unsigned(fromNumber.call(this, value)) }
    LongBits.fromBigInt = function (value) { return unsigned(fromBigInt.call(this, value)) }
    LongBits.__s3xfsUnsignedFix = true
  }
  // Verify with every ipfs-unixfs copy (the importer's among them).
  // Type=File, filesize=2^31+2^32-1, blocksizes=[2^31, 2^32-1]
  const want = '0802' + '18ffffffff17' + '208080808008' + '20ffffffff0f'
  for (const dir of findPackages('ipfs-unixfs')) {
    const { UnixFS } = await import(pathToFileURL(path.join(dir, 'dist', 'src', 'index.js')).href)
    const got = Buffer.from(new UnixFS({ type: 'file', blockSizes: [2n ** 31n, 2n ** 32n - 1n] }).marshal()).toString('hex')
    if (got !== want) {
      throw new Error(`uint64 self-test failed for ${dir}: UnixFS Data ${got}, expected ${want}`)
    }
  }
}

// A write-only blockstore that keeps nothing: the importer only needs put().
const nullBlockstore = {
  blocks: 0,
  bytes: 0,
  async put (cid, bytes) {
    this.blocks++
    this.bytes += bytes.byteLength
    return cid
  }
}

function fileSource (file) {
  if (file === '-') {
    // A regular file on stdin reads much faster through fs in large pieces;
    // pipes and terminals go through process.stdin.
    if (fs.fstatSync(0).isFile()) {
      return fs.createReadStream(null, { fd: 0, autoClose: false, highWaterMark: 1024 * 1024 })
    }
    return process.stdin
  }
  // Check up front so that a missing/unreadable file is a clean one-line error.
  const st = fs.statSync(file)
  if (st.isDirectory()) throw new Error(`${file} is a directory (use --dir)`)
  return fs.createReadStream(file, { highWaterMark: 1024 * 1024 })
}

// Yields import candidates for DIR with paths "<basename>/<rel>" in a
// depth-first walk, directories included (so empty directories are kept).
function * walkDir (root, prefix, hidden) {
  yield { path: prefix }
  const names = fs.readdirSync(root).sort()
  for (const name of names) {
    if (!hidden && name.startsWith('.')) continue
    const full = path.join(root, name)
    const rel = `${prefix}/${name}`
    const st = fs.lstatSync(full)
    if (st.isSymbolicLink()) {
      yield { path: rel, link: fs.readlinkSync(full) }
    } else if (st.isDirectory()) {
      yield * walkDir(full, rel, hidden)
    } else if (st.isFile()) {
      yield { path: rel, content: fs.createReadStream(full, { highWaterMark: 1024 * 1024 }) }
    } else {
      throw new Error(`unsupported file type: ${full}`)
    }
  }
}

async function main () {
  const opts = parseArgs(process.argv.slice(2))
  await fixProtonsUint64()
  const options = importerOptions(opts.cidVersion)

  if (opts.dir !== null) {
    const st = fs.statSync(opts.dir)
    if (!st.isDirectory()) throw new Error(`${opts.dir} is not a directory`)
    // Name the top entry "root" rather than the real basename: the name of
    // the top directory never enters its own CID, and this avoids trouble
    // with names such as "." or "..".
    const top = 'root'
    let root = null
    for await (const entry of importer(walkDir(opts.dir, top, opts.hidden), nullBlockstore, options)) {
      if (entry.path === top) root = entry.cid
    }
    printRoot(root)
    return
  }
  for (const file of opts.files) {
    const content = fileSource(file)
    let root = null
    for await (const entry of importer([{ content }], nullBlockstore, options)) {
      root = entry.cid
    }
    printRoot(root)
  }
}

function printRoot (root) {
  if (root === null) throw new Error('importer produced no root')
  process.stdout.write(root.toString() + '\n')
}

main().catch((err) => {
  process.stderr.write(`ref-add: ${err && err.message ? err.message : err}\n`)
  process.exit(1)
})
