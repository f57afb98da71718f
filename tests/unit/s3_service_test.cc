// S3Service without a socket: requests are signed here with the sigv4 functions and fed to the
// service the way the Beast server does (Begin, OnBody pieces, Finish).
#include "s3xfs/s3/service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>

#include "s3xfs/base/log.h"
#include "s3xfs/blockstore/memory.h"
#include "s3xfs/s3/checksum.h"
#include "s3xfs/s3/sigv4.h"
#include "s3_fixture.h"
#include "testutil.h"

namespace s3xfs::s3 {
namespace {

using ::testing::HasSubstr;

TEST_F(S3ServiceTest, PutGetHeadDelete) {
  ASSERT_EQ(Do("PUT", "/bkt").status, 200);
  std::string data = "hello, s3xfs";
  Reply put = Do("PUT", "/bkt/dir/a%20b.txt", data,
                 {{"content-type", "text/plain"}, {"x-amz-meta-color", "blue"}});
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(put.Header("etag"), "\"" + testing::Md5Hex(AsBytes(data)) + "\"");
  EXPECT_FALSE(put.Header("x-amz-meta-ipfs-cid").empty());
  Reply get = Do("GET", "/bkt/dir/a%20b.txt");
  ASSERT_EQ(get.status, 200);
  EXPECT_EQ(get.body, data);
  EXPECT_EQ(get.Header("content-type"), "text/plain");
  EXPECT_EQ(get.Header("x-amz-meta-color"), "blue");
  EXPECT_EQ(get.Header("x-amz-meta-ipfs-cid"), put.Header("x-amz-meta-ipfs-cid"));
  Reply head = Do("HEAD", "/bkt/dir/a%20b.txt");
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty());
  EXPECT_EQ(Do("DELETE", "/bkt/dir/a%20b.txt").status, 204);
  Reply gone = Do("GET", "/bkt/dir/a%20b.txt");
  EXPECT_EQ(gone.status, 404);
  EXPECT_THAT(gone.body, HasSubstr("<Code>NoSuchKey</Code>"));
  EXPECT_FALSE(gone.Header("x-amz-request-id").empty());
  // The error body names the request id of the header (the one logged for a failed request).
  EXPECT_THAT(gone.body, HasSubstr("<RequestId>" + gone.Header("x-amz-request-id") + "</RequestId>"));
  Reply head_gone = Do("HEAD", "/bkt/dir/a%20b.txt");
  EXPECT_EQ(head_gone.status, 404);
  EXPECT_TRUE(head_gone.body.empty());
  EXPECT_THAT(changes_, ::testing::ElementsAre("bkt/", "bkt/dir/a b.txt", "bkt/dir/a b.txt"));
}

TEST_F(S3ServiceTest, RequestsAreCountedAndFailuresLoggedOnce) {
  auto m = [](const std::string& series) { return std::max(0.0, testing::MetricValue(series)); };
  const std::string put = "s3xfs_s3_requests_total{operation=\"PutObject\",code=\"200\"}";
  const std::string missing = "s3xfs_s3_requests_total{operation=\"GetObject\",code=\"404\"}";
  const std::string forged = "s3xfs_s3_requests_total{operation=\"GetObject\",code=\"403\"}";
  const std::string count = "s3xfs_s3_request_duration_seconds_count{operation=\"PutObject\"}";
  const std::string in = "s3xfs_s3_received_bytes_total{operation=\"PutObject\"}";
  const std::string out = "s3xfs_s3_sent_bytes_total{operation=\"GetObject\"}";
  double put0 = m(put), missing0 = m(missing), forged0 = m(forged), count0 = m(count),
         in0 = m(in), out0 = m(out);
  std::string path = dir_.path() + "/log";
  ASSERT_TRUE(log::Init(log::Options{log::Level::kDebug, path}).ok());

  ASSERT_EQ(Do("PUT", "/bkt").status, 200);
  std::string data(3000, 'x');
  ASSERT_EQ(Do("PUT", "/bkt/dir/k%201", data).status, 200);  // a space: quoted in the log
  ASSERT_EQ(Do("GET", "/bkt/dir/k%201").status, 200);
  Reply gone = Do("GET", "/bkt/nope");
  ASSERT_EQ(gone.status, 404);
  Reply bad = Run(Signed("GET", "/bkt/dir/k%201", "", {}, kAk, "not-the-secret"));
  ASSERT_EQ(bad.status, 403);
  ASSERT_TRUE(log::Init(log::Options{}).ok());

  EXPECT_EQ(m(put), put0 + 1);
  EXPECT_EQ(m(missing), missing0 + 1);
  EXPECT_EQ(m(forged), forged0 + 1);  // routed for the labels although it failed before routing
  EXPECT_EQ(m(count), count0 + 1);
  EXPECT_EQ(m(in), in0 + data.size());
  EXPECT_EQ(m(out), out0 + data.size() + gone.body.size() + bad.body.size());

  std::ifstream f(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(f, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 2u) << ::testing::PrintToString(lines);  // the 200s are not logged
  EXPECT_THAT(lines[0], HasSubstr(" debug: S3 request failed: id=" + gone.Header("x-amz-request-id") +
                                  " method=GET op=GetObject bucket=bkt key=nope status=404 "
                                  "code=NoSuchKey access_key=TESTKEY1 seconds=0.001 message="));
  EXPECT_THAT(lines[1], HasSubstr(" warning: S3 request failed: id=" + bad.Header("x-amz-request-id") +
                                  " method=GET op=GetObject bucket=bkt key=\"dir/k 1\" status=403 "
                                  "code=SignatureDoesNotMatch seconds="));
  EXPECT_THAT(lines[1], ::testing::Not(HasSubstr("access_key=")));
}

TEST_F(S3ServiceTest, BadSignaturesStoreNothing) {
  ASSERT_EQ(Do("PUT", "/bkt").status, 200);
  auto wrong_secret = Signed("PUT", "/bkt/k", "x", {}, kAk, "not-the-secret");
  Reply r = Run(wrong_secret, "x");
  EXPECT_EQ(r.status, 403);
  EXPECT_THAT(r.body, HasSubstr("SignatureDoesNotMatch"));
  Reply unknown = Run(Signed("PUT", "/bkt/k", "x", {}, "NOSUCHKEY", kSk), "x");
  EXPECT_EQ(unknown.status, 403);
  EXPECT_THAT(unknown.body, HasSubstr("InvalidAccessKeyId"));
  // Body differs from the signed digest.
  auto h = Signed("PUT", "/bkt/k", "good");
  Reply mismatch = Run(h, "evil");
  EXPECT_EQ(mismatch.status, 400);
  EXPECT_THAT(mismatch.body, HasSubstr("XAmzContentSHA256Mismatch"));
  // Clock skew.
  now_ = kNow - 16 * 60;
  auto old = Signed("PUT", "/bkt/k", "x");
  now_ = kNow;
  Reply skew = Run(old, "x");
  EXPECT_EQ(skew.status, 403);
  EXPECT_THAT(skew.body, HasSubstr("RequestTimeTooSkewed"));
  EXPECT_EQ(Do("GET", "/bkt/k").status, 404);
}

TEST_F(S3ServiceTest, AccessBetweenKeys) {
  ASSERT_EQ(Do("PUT", "/mine").status, 200);
  ASSERT_EQ(Do("PUT", "/mine/k", "v").status, 200);
  Reply other = Run(Signed("GET", "/mine/k", "", {}, "OTHERKEY", "other-secret-000"));
  EXPECT_EQ(other.status, 403);
  EXPECT_THAT(other.body, HasSubstr("AccessDenied"));
  RequestHead anon;
  anon.method = "GET";
  anon.target = "/mine/k";
  anon.headers.Add("host", "127.0.0.1");
  EXPECT_EQ(Run(anon).status, 403);
  // The grant to '*' lets anyone read "public", nobody but the owner write it.
  ASSERT_EQ(Do("PUT", "/public").status, 200);
  ASSERT_EQ(Do("PUT", "/public/k", "open").status, 200);
  anon.target = "/public/k";
  Reply r = Run(anon);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "open");
  Reply w = Run(Signed("PUT", "/public/k", "x", {}, "OTHERKEY", "other-secret-000"), "x");
  EXPECT_EQ(w.status, 403);
}

// Keys reloaded at run time (s3xfs keys): new requests use them at once, a request begun before
// keeps the keys it began with.
TEST_F(S3ServiceTest, SetKeysTakesEffectForNewRequests) {
  ASSERT_EQ(Do("PUT", "/bkt").status, 200);
  Reply unknown = Run(Signed("GET", "/bkt", "", {}, "NEWKEY01", "new-secret-0001"));
  EXPECT_EQ(unknown.status, 403);
  EXPECT_THAT(unknown.body, HasSubstr("InvalidAccessKeyId"));
  auto begun = service_->Begin(Signed("PUT", "/bkt/old", "x"));
  auto keys = KeyStore::Parse(std::string(kAk) + " " + kSk +
                              "\nNEWKEY01 new-secret-0001\ngrant NEWKEY01 bkt read\n");
  ASSERT_TRUE(keys.ok());
  service_->SetKeys(std::make_shared<const KeyStore>(std::move(*keys)));
  EXPECT_EQ(Run(Signed("GET", "/bkt", "", {}, "NEWKEY01", "new-secret-0001")).status, 200);
  // OTHERKEY is gone: refused from now on.
  Reply gone = Run(Signed("GET", "/bkt", "", {}, "OTHERKEY", "other-secret-000"));
  EXPECT_EQ(gone.status, 403);
  EXPECT_THAT(gone.body, HasSubstr("InvalidAccessKeyId"));
  // The request begun before the swap completes with the keys it began with.
  ASSERT_TRUE(begun->WantsBody());
  ASSERT_TRUE(begun->OnBody(AsBytes(std::string_view("x"))).ok());
  EXPECT_EQ(begun->Finish(true).status, 200);
  EXPECT_EQ(Do("GET", "/bkt/old").status, 200);
}

TEST_F(S3ServiceTest, RangesAndConditions) {
  ASSERT_EQ(Do("PUT", "/bkt").status, 200);
  std::string data(1000, 'a');
  for (size_t i = 0; i < data.size(); ++i) data[i] = char('a' + i % 26);
  Reply put = Do("PUT", "/bkt/r", data);
  std::string etag = put.Header("etag");
  Reply part = Do("GET", "/bkt/r", "", {{"range", "bytes=10-19"}});
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.body, data.substr(10, 10));
  EXPECT_EQ(part.Header("content-range"), "bytes 10-19/1000");
  EXPECT_EQ(Do("GET", "/bkt/r", "", {{"range", "bytes=-5"}}).body, data.substr(995));
  EXPECT_EQ(Do("GET", "/bkt/r", "", {{"range", "bytes=990-"}}).body, data.substr(990));
  Reply bad = Do("GET", "/bkt/r", "", {{"range", "bytes=1000-"}});
  EXPECT_EQ(bad.status, 416);
  EXPECT_THAT(bad.body, HasSubstr("InvalidRange"));
  EXPECT_EQ(Do("GET", "/bkt/r", "", {{"if-none-match", etag}}).status, 304);
  EXPECT_EQ(Do("GET", "/bkt/r", "", {{"if-match", "\"nope\""}}).status, 412);
  EXPECT_EQ(Do("GET", "/bkt/r", "", {{"if-match", etag}}).status, 200);
  // PUT If-None-Match: * refuses to overwrite.
  Reply again = Do("PUT", "/bkt/r", "new", {{"if-none-match", "*"}});
  EXPECT_EQ(again.status, 412);
  EXPECT_EQ(Do("GET", "/bkt/r").body, data);
}

TEST_F(S3ServiceTest, ListV2Pages) {
  ASSERT_EQ(Do("PUT", "/bkt").status, 200);
  for (int i = 0; i < 25; ++i) {
    char key[32];
    snprintf(key, sizeof key, "/bkt/k%02d", i);
    ASSERT_EQ(Do("PUT", key, "x").status, 200);
  }
  std::string token;
  int keys = 0, pages = 0;
  for (;;) {
    std::string target = "/bkt?list-type=2&max-keys=10";
    if (!token.empty()) target += "&continuation-token=" + UriEncode(token, true);
    Reply r = Do("GET", target);
    ASSERT_EQ(r.status, 200) << r.body;
    ++pages;
    for (size_t p = 0; (p = r.body.find("<Key>", p)) != std::string::npos; ++p) ++keys;
    size_t t = r.body.find("<NextContinuationToken>");
    if (t == std::string::npos) break;
    size_t e = r.body.find("</NextContinuationToken>", t);
    token = r.body.substr(t + 23, e - t - 23);
  }
  EXPECT_EQ(keys, 25);
  EXPECT_EQ(pages, 3);
}

// An aws-chunked body with a correct signature chain is stored decoded; a tampered chunk is not.
TEST_F(S3ServiceTest, StreamingSignedUpload) {
  ASSERT_EQ(Do("PUT", "/bkt").status, 200);
  std::string payload(70000, 'z');
  auto build = [&](bool tamper) {
    RequestHead h = Signed("PUT", "/bkt/stream", "", {{"content-encoding", "aws-chunked"},
                                                      {"x-amz-decoded-content-length", std::to_string(payload.size())}},
                           kAk, kSk, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
    std::string date = FormatAmzDate(now_);
    Bytes key = SigningKey(kSk, date.substr(0, 8), "us-east-1", "s3");
    std::string scope = date.substr(0, 8) + "/us-east-1/s3/aws4_request";
    std::string prev = last_signature_;
    std::string empty_hash = HexEncode(Sha256Of({}));
    std::string body;
    auto chunk = [&](std::string_view data) {
      std::string sts = "AWS4-HMAC-SHA256-PAYLOAD\n" + date + "\n" + scope + "\n" + prev + "\n" +
                        empty_hash + "\n" + HexEncode(Sha256Of(AsBytes(data)));
      std::string sig = SignHex(key, sts);
      prev = sig;
      char hex[20];
      snprintf(hex, sizeof hex, "%zx", data.size());
      body += std::string(hex) + ";chunk-signature=" + sig + "\r\n" + std::string(data) + "\r\n";
    };
    chunk(std::string_view(payload).substr(0, 65536));
    chunk(std::string_view(payload).substr(65536));
    chunk("");
    if (tamper) body[100] ^= 1;
    return std::make_pair(h, body);
  };
  auto [bad_head, bad_body] = build(true);
  Reply bad = Run(bad_head, bad_body, 4096);
  EXPECT_EQ(bad.status, 403) << bad.body;
  EXPECT_EQ(Do("GET", "/bkt/stream").status, 404);
  auto [head, body] = build(false);
  Reply good = Run(head, body, 4096);
  ASSERT_EQ(good.status, 200) << good.body;
  EXPECT_EQ(Do("GET", "/bkt/stream").body, payload);
}

// x-amz-checksum-* headers are verified against the body (CRC64/NVME check value of
// "123456789" is 0xae8b14860a799888).
TEST_F(S3ServiceTest, ChecksumHeadersAreVerified) {
  ASSERT_EQ(Do("PUT", "/bkt").status, 200);
  Reply good = Do("PUT", "/bkt/c", "123456789", {{"x-amz-checksum-crc64nvme", "rosUhgp5mIg="}});
  EXPECT_EQ(good.status, 200) << good.body;
  EXPECT_EQ(good.Header("x-amz-checksum-crc64nvme"), "rosUhgp5mIg=");
  Reply bad = Do("PUT", "/bkt/d", "123456780", {{"x-amz-checksum-crc64nvme", "rosUhgp5mIg="}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(bad.body, HasSubstr("BadDigest"));
  EXPECT_EQ(Do("GET", "/bkt/d").status, 404);
  Reply crc32 = Do("PUT", "/bkt/e", "123456789", {{"x-amz-checksum-crc32", "y/Q5Jg=="}});
  EXPECT_EQ(crc32.status, 200) << crc32.body;
}

// A part whose body does not match its Content-MD5 is refused and the part uploaded before
// under that number stays (the core checks the MD5 it computes anyway, before recording).
TEST_F(S3ServiceTest, PartContentMd5CheckedBeforeRecording) {
  ASSERT_EQ(Do("PUT", "/bkt").status, 200);
  Reply init = Do("POST", "/bkt/mp?uploads");
  ASSERT_EQ(init.status, 200) << init.body;
  size_t a = init.body.find("<UploadId>"), b = init.body.find("</UploadId>");
  ASSERT_NE(a, std::string::npos);
  std::string id = init.body.substr(a + 10, b - a - 10);
  std::string part = "first version of part one";
  std::string target = "/bkt/mp?partNumber=1&uploadId=" + id;
  Reply good = Do("PUT", target, part,
                  {{"content-md5", Base64Encode(testing::Md5Raw(AsBytes(part)))}});
  ASSERT_EQ(good.status, 200) << good.body;
  Reply bad = Do("PUT", target, "tampered",
                 {{"content-md5", Base64Encode(testing::Md5Raw(AsBytes(part)))}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(bad.body, HasSubstr("BadDigest"));
  Reply parts = Do("GET", "/bkt/mp?uploadId=" + id);
  EXPECT_THAT(parts.body, HasSubstr(good.Header("etag").substr(1, 32)));
  EXPECT_THAT(parts.body, HasSubstr("<Size>" + std::to_string(part.size()) + "</Size>"));
}

TEST_F(S3ServiceTest, XmlBodiesAreBoundedAndSafe) {
  ASSERT_EQ(Do("PUT", "/bkt").status, 200);
  ASSERT_EQ(Do("PUT", "/bkt/a", "1").status, 200);
  std::string bomb =
      "<?xml version=\"1.0\"?><!DOCTYPE d [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]>"
      "<Delete><Object><Key>&b;</Key></Object></Delete>";
  Reply r = Do("POST", "/bkt?delete", bomb);
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("MalformedXML"));
  std::string del = "<Delete><Quiet>false</Quiet><Object><Key>a</Key></Object>"
                    "<Object><Key>missing</Key></Object></Delete>";
  Reply ok = Do("POST", "/bkt?delete", del);
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_THAT(ok.body, HasSubstr("<Deleted><Key>a</Key></Deleted>"));
  EXPECT_EQ(Do("GET", "/bkt/a").status, 404);
}

TEST_F(S3ServiceTest, UnsupportedAndMalformed) {
  ASSERT_EQ(Do("PUT", "/bkt").status, 200);
  EXPECT_EQ(Do("GET", "/bkt?acl").status, 501);
  EXPECT_EQ(Do("PATCH", "/bkt/k").status, 405);
  EXPECT_EQ(Do("GET", "/bkt/%zz").status, 400);
  Reply longkey = Do("PUT", "/bkt/" + std::string(1025, 'k'), "x");
  EXPECT_EQ(longkey.status, 400);
  EXPECT_THAT(longkey.body, HasSubstr("KeyTooLong"));
  Reply dup = Do("PUT", "/bkt");
  EXPECT_EQ(dup.status, 409);
  EXPECT_THAT(dup.body, HasSubstr("BucketAlreadyOwnedByYou"));
  ASSERT_EQ(Do("PUT", "/bkt/k", "v").status, 200);
  Reply notempty = Do("DELETE", "/bkt");
  EXPECT_EQ(notempty.status, 409);
  EXPECT_THAT(notempty.body, HasSubstr("BucketNotEmpty"));
}

// s3cmd's default region is "US": it re-signs with the <Region> of the error (or, for HEAD,
// the x-amz-bucket-region header), so both must name ours.
TEST_F(S3ServiceTest, WrongRegionNamesOurs) {
  ASSERT_EQ(Do("PUT", "/bkt").status, 200);
  for (std::string method : {"GET", "HEAD"}) {
    RequestHead h = Signed(method, "/bkt/k", "");
    for (auto& [name, value] : h.headers.fields) {
      if (name == "authorization") value.replace(value.find("/us-east-1/"), 11, "/US/");
    }
    Reply r = Run(h);
    EXPECT_EQ(r.status, 400) << method;
    EXPECT_EQ(r.Header("x-amz-bucket-region"), "us-east-1") << method;
    if (method == "GET") {
      EXPECT_THAT(r.body, HasSubstr("<Code>AuthorizationHeaderMalformed</Code>"));
      EXPECT_THAT(r.body, HasSubstr("<Region>us-east-1</Region>"));
    }
  }
}

}  // namespace
}  // namespace s3xfs::s3
