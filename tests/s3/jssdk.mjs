// @aws-sdk/client-s3 (v3, npm, tools/js) with its defaults against a real `s3xfs serve`
// listener: CRC32 checksums on every upload (a header for Buffers; aws-chunked with
// STREAMING-UNSIGNED-PAYLOAD-TRAILER and an x-amz-checksum-crc32 trailer for streams), GetObject,
// multipart through @aws-sdk/lib-storage's Upload, ListObjectsV2, DeleteObjects (CRC32, no
// Content-MD5). Bytes and MD5s are compared.
//
// Run by tests/s3/jssdk.sh (S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY, TMP set).
import { createHash } from 'node:crypto';
import { createReadStream, writeFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Readable } from 'node:stream';

const require = createRequire(join(process.env.JS_DIR, 'package.json'));
const s3mod = require('@aws-sdk/client-s3');
const { Upload } = require('@aws-sdk/lib-storage');
const {
  S3Client, CreateBucketCommand, PutObjectCommand, GetObjectCommand, HeadObjectCommand,
  ListObjectsV2Command, DeleteObjectsCommand, DeleteObjectCommand, DeleteBucketCommand,
  CopyObjectCommand,
} = s3mod;

const T0 = Date.now();
const log = (m) => console.log(`[jssdk] ${m} (${((Date.now() - T0) / 1000).toFixed(1)} s)`);
class Fail extends Error {}
const check = (c, m) => { if (!c) throw new Fail(m); };
const eq = (got, want, m) => {
  if (got !== want) throw new Fail(`${m}: got ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
};
const md5 = (b) => createHash('md5').update(b).digest('hex');
const multipartEtag = (parts) =>
  md5(Buffer.concat(parts.map((p) => createHash('md5').update(p).digest()))) + `-${parts.length}`;
const MiB = 1024 * 1024;
function data(seed, n) {
  const out = Buffer.alloc(n);
  let off = 0;
  for (let i = 0; off < n; i++) {
    const h = createHash('sha256').update(`${seed}/${i}`).digest();
    for (let j = 0; j < 64 && off < n; j++) off += h.copy(out, off, 0, Math.min(32, n - off));
  }
  return out;
}

const client = new S3Client({
  endpoint: process.env.S3_ENDPOINT,
  region: 'us-east-1',
  forcePathStyle: true,
  credentials: { accessKeyId: process.env.S3_ACCESS_KEY, secretAccessKey: process.env.S3_SECRET_KEY },
  maxAttempts: 1,
});
// The headers of the last request actually sent (after signing and checksum middleware).
let sent = {};
client.middlewareStack.add((next) => async (args) => {
  sent = { ...args.request.headers };
  return next(args);
}, { step: 'deserialize', name: 'recordHeaders', priority: 'low' });

async function expectError(name, status, fn) {
  try {
    await fn();
  } catch (e) {
    if (e instanceof Fail) throw e;
    if (e.name !== name || (status && e.$metadata?.httpStatusCode !== status)) {
      throw new Fail(`expected ${name}/${status}, got ${e.name}/${e.$metadata?.httpStatusCode}: ${e.message}`);
    }
    return e;
  }
  throw new Fail(`expected ${name}, but the request succeeded`);
}

async function getBytes(Bucket, Key, extra = {}) {
  const r = await client.send(new GetObjectCommand({ Bucket, Key, ...extra }));
  return { r, body: Buffer.from(await r.Body.transformToByteArray()) };
}

async function main() {
  const B = 'js-bucket';
  await client.send(new CreateBucketCommand({ Bucket: B }));

  // 1. PutObject of a Buffer: CRC32 as a header.
  const small = data('js/small', MiB + 3);
  let r = await client.send(new PutObjectCommand({ Bucket: B, Key: 'buf/one', Body: small,
    Metadata: { origin: 'jssdk' }, ContentType: 'application/x-js' }));
  check(sent['x-amz-checksum-crc32'], `Buffer PUT sent no x-amz-checksum-crc32: ${JSON.stringify(sent)}`);
  eq(r.ETag, `"${md5(small)}"`, 'PutObject(Buffer) ETag');
  let g = await getBytes(B, 'buf/one');
  check(g.body.equals(small), 'GetObject of the Buffer upload');
  eq(g.r.Metadata.origin, 'jssdk', 'user metadata');
  check(g.r.Metadata['ipfs-cid']?.startsWith('baf'), `x-amz-meta-ipfs-cid: ${g.r.Metadata['ipfs-cid']}`);
  eq(g.r.ContentType, 'application/x-js', 'Content-Type');
  await expectError('BadDigest', 400, () => client.send(new PutObjectCommand({
    Bucket: B, Key: 'buf/bad', Body: small, ChecksumCRC32: 'AAAAAA==' })));
  await expectError('NoSuchKey', 404, () => client.send(new GetObjectCommand({ Bucket: B, Key: 'buf/bad' })));
  // SDK versions that still run on Node 18 (Debian 12's) compute CRC64NVME only with the native
  // CRT package; the server side of CRC64NVME is covered by the unit and boto3/security tests.
  let crc64InJs = true;
  try {
    await client.send(new PutObjectCommand({ Bucket: B, Key: 'buf/crc64-probe', Body: small, ChecksumAlgorithm: 'CRC64NVME' }));
  } catch (e) {
    if (!/crc64-nvme-crt/.test(String(e))) throw e;
    crc64InJs = false;
    log('this SDK version needs the native CRT for CRC64NVME: those cases skipped');
  }
  for (const alg of ['CRC32C', 'SHA1', 'SHA256', 'CRC64NVME']) {
    if (alg === 'CRC64NVME' && !crc64InJs) continue;
    await client.send(new PutObjectCommand({ Bucket: B, Key: `buf/${alg}`, Body: small, ChecksumAlgorithm: alg }));
    check(sent[`x-amz-checksum-${alg.toLowerCase()}`], `${alg}: header not sent`);
    g = await getBytes(B, `buf/${alg}`);
    check(g.body.equals(small), `PUT with ${alg}`);
  }
  log('PutObject(Buffer) with CRC32/CRC32C/SHA1/SHA256/CRC64NVME headers ok');

  // 2. PutObject of a stream: aws-chunked, STREAMING-UNSIGNED-PAYLOAD-TRAILER, CRC32 trailer.
  const file = join(process.env.TMP, 'js-stream');
  const streamed = data('js/stream', 3 * MiB + 12345);
  writeFileSync(file, streamed);
  for (const [alg, key] of [[undefined, 'stream/crc32'], ['CRC32C', 'stream/crc32c'],
    ['SHA256', 'stream/sha256'], ['CRC64NVME', 'stream/crc64nvme']]) {
    if (alg === 'CRC64NVME' && !crc64InJs) continue;
    r = await client.send(new PutObjectCommand({ Bucket: B, Key: key, Body: createReadStream(file),
      ContentLength: streamed.length, ChecksumAlgorithm: alg, Metadata: { via: 'stream' } }));
    eq(sent['x-amz-content-sha256'], 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', `${key}: payload mode`);
    eq(sent['x-amz-trailer'], `x-amz-checksum-${(alg ?? 'CRC32').toLowerCase()}`, `${key}: trailer`);
    check(/aws-chunked/.test(sent['content-encoding']), `${key}: content-encoding ${sent['content-encoding']}`);
    eq(r.ETag, `"${md5(streamed)}"`, `${key}: ETag is the MD5 of the decoded payload`);
    g = await getBytes(B, key);
    check(g.body.equals(streamed), `${key}: GetObject returns the decoded payload`);
    eq(g.r.ContentLength, streamed.length, `${key}: ContentLength`);
    check(g.r.ContentEncoding === undefined, `${key}: aws-chunked stored as Content-Encoding: ${g.r.ContentEncoding}`);
    eq(g.r.Metadata.via, 'stream', `${key}: metadata`);
  }
  // A Readable of unknown type (Readable.from of Buffers) with a length.
  r = await client.send(new PutObjectCommand({ Bucket: B, Key: 'stream/readable',
    Body: Readable.from([streamed.subarray(0, 1000), streamed.subarray(1000)]), ContentLength: streamed.length }));
  eq(r.ETag, `"${md5(streamed)}"`, 'Readable.from upload ETag');
  // An empty stream.
  r = await client.send(new PutObjectCommand({ Bucket: B, Key: 'stream/empty', Body: Readable.from([]), ContentLength: 0 }));
  g = await getBytes(B, 'stream/empty');
  eq(g.body.length, 0, 'empty streamed object');
  log('PutObject(stream) aws-chunked with trailers ok');

  // 3. Ranged GET, HEAD, copy.
  g = await getBytes(B, 'stream/crc32', { Range: 'bytes=1048570-2097160' });
  check(g.body.equals(streamed.subarray(1048570, 2097161)), 'ranged GetObject');
  eq(g.r.ContentRange, `bytes 1048570-2097160/${streamed.length}`, 'Content-Range');
  const h = await client.send(new HeadObjectCommand({ Bucket: B, Key: 'stream/crc32' }));
  eq(h.ContentLength, streamed.length, 'HeadObject ContentLength');
  await client.send(new CopyObjectCommand({ Bucket: B, Key: 'copy/of stream+1', CopySource: `${B}/stream/crc32` }));
  g = await getBytes(B, 'copy/of stream+1');
  check(g.body.equals(streamed), 'CopyObject');

  // 4. Multipart through lib-storage's Upload (5 MiB parts, CRC32 per part).
  const big = data('js/big', 12 * MiB + 777);
  for (const [key, body] of [['mp/buffer', big], ['mp/stream', Readable.from(
    Array.from({ length: Math.ceil(big.length / 65536) }, (_, i) => big.subarray(i * 65536, (i + 1) * 65536)))]]) {
    const up = new Upload({ client, params: { Bucket: B, Key: key, Body: body }, partSize: 5 * MiB, queueSize: 3 });
    r = await up.done();
    const parts = [big.subarray(0, 5 * MiB), big.subarray(5 * MiB, 10 * MiB), big.subarray(10 * MiB)];
    eq(r.ETag, `"${multipartEtag(parts)}"`, `${key}: multipart ETag`);
    g = await getBytes(B, key);
    check(g.body.equals(big), `${key}: multipart bytes`);
    eq(md5(g.body), md5(big), `${key}: MD5`);
  }
  // A small body goes through one PutObject.
  r = await new Upload({ client, params: { Bucket: B, Key: 'mp/small', Body: small } }).done();
  eq(r.ETag, `"${md5(small)}"`, 'Upload of a small body');
  log('lib-storage Upload (multipart) ok');

  // 5. ListObjectsV2 with paging, DeleteObjects.
  const keys = Array.from({ length: 60 }, (_, i) => `many/k ${String(i).padStart(3, '0')}+ü`);
  await Promise.all(keys.map((Key) => client.send(new PutObjectCommand({ Bucket: B, Key, Body: Key }))));
  let listed = [];
  let token;
  do {
    const l = await client.send(new ListObjectsV2Command({ Bucket: B, Prefix: 'many/', MaxKeys: 25, ContinuationToken: token }));
    listed = listed.concat((l.Contents ?? []).map((o) => o.Key));
    eq(l.KeyCount, (l.Contents ?? []).length, 'KeyCount');
    token = l.IsTruncated ? l.NextContinuationToken : undefined;
  } while (token);
  eq(JSON.stringify(listed), JSON.stringify([...keys].sort()), 'ListObjectsV2 paging');
  const top = await client.send(new ListObjectsV2Command({ Bucket: B, Delimiter: '/' }));
  eq(JSON.stringify((top.CommonPrefixes ?? []).map((p) => p.Prefix)),
    JSON.stringify(['buf/', 'copy/', 'many/', 'mp/', 'stream/']), 'CommonPrefixes');
  let all = [];
  token = undefined;
  do {
    const l = await client.send(new ListObjectsV2Command({ Bucket: B, ContinuationToken: token }));
    all = all.concat((l.Contents ?? []).map((o) => ({ Key: o.Key })));
    token = l.IsTruncated ? l.NextContinuationToken : undefined;
  } while (token);
  const d = await client.send(new DeleteObjectsCommand({ Bucket: B, Delete: { Objects: all } }));
  check(!sent['content-md5'], 'DeleteObjects sent Content-MD5 (expected a CRC only)');
  eq((d.Deleted ?? []).length, all.length, 'DeleteObjects deleted every key');
  check(!(d.Errors ?? []).length, `DeleteObjects errors: ${JSON.stringify(d.Errors)}`);
  const q = await client.send(new DeleteObjectsCommand({ Bucket: B, Delete: { Objects: [{ Key: 'gone' }], Quiet: true } }));
  eq((q.Deleted ?? []).length, 0, 'quiet DeleteObjects');
  const after = await client.send(new ListObjectsV2Command({ Bucket: B }));
  eq(after.KeyCount, 0, 'bucket empty after DeleteObjects');
  await client.send(new DeleteObjectCommand({ Bucket: B, Key: 'nothing' }));
  await client.send(new DeleteBucketCommand({ Bucket: B }));
  log('ListObjectsV2, DeleteObjects, DeleteBucket ok');
  rmSync(file, { force: true });
  log('PASS');
}

main().catch((e) => {
  console.error(`[jssdk] FAIL: ${e instanceof Fail ? e.message : e.stack ?? e}`);
  process.exit(1);
});
