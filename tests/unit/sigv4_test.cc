// SigV4: the AWS S3 documentation's examples (header form, presigned URL, streaming seed), the
// canonicalisation S3 clients depend on (keys with spaces, '+', '%', '~', unicode, '//', '..',
// trailing '/'; query parameters without '='; header folding and repeats), parsing errors and
// their reasons, tampering, the clock (skew, presigned expiry), dates, and a randomised
// round trip against an independent test-side signer.
#include "s3xfs/s3/sigv4.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "s3xfs/s3/checksum.h"

namespace s3xfs::s3 {
namespace {

using R = Status::Reason;

constexpr char kAccessKey[] = "AKIAIOSFODNN7EXAMPLE";
constexpr char kSecret[] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
constexpr char kEmptySha[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr int64_t kExampleTime = 1369353600;  // 2013-05-24T00:00:00Z
constexpr char kCredential[] = "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request";

RequestHead Head(std::string method, std::string target,
                 std::vector<std::pair<std::string, std::string>> headers) {
  RequestHead h;
  h.method = std::move(method);
  h.target = std::move(target);
  for (auto& [n, v] : headers) h.headers.Add(n, v);
  return h;
}

std::vector<QueryParam> Query(const RequestHead& h) {
  auto q = ParseQuery(SplitRequestTarget(h.target).raw_query);
  EXPECT_TRUE(q.ok()) << q.status().ToString();
  return q.ok() ? *q : std::vector<QueryParam>{};
}

std::string Authorization(std::string_view signed_headers, std::string_view signature,
                          std::string_view credential = kCredential) {
  return "AWS4-HMAC-SHA256 Credential=" + std::string(credential) +
         ",SignedHeaders=" + std::string(signed_headers) + ",Signature=" + std::string(signature);
}

SigV4Request MustParse(const RequestHead& h) {
  auto r = ParseSigV4(h, Query(h));
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok() || !r->has_value()) {
    ADD_FAILURE() << "no authentication found";
    return {};
  }
  return **r;
}

Status Verify(const RequestHead& h, int64_t now = kExampleTime, std::string_view secret = kSecret,
              std::string region = "us-east-1") {
  auto q = Query(h);
  auto r = ParseSigV4(h, q);
  if (!r.ok()) return r.status();
  if (!r->has_value()) return Status::Internal("anonymous");
  VerifyOptions o;
  o.now_s = now;
  o.region = std::move(region);
  auto v = VerifySigV4(h, q, **r, secret, o);
  return v.status();
}

Status::Reason ParseReason(const RequestHead& h) {
  auto r = ParseSigV4(h, Query(h));
  EXPECT_FALSE(r.ok());
  return r.ok() ? R::kNone : r.status().reason();
}

// ---- The AWS documentation examples ------------------------------------------------------

// "Example: GET Object" (sig-v4-header-based-auth).
RequestHead GetObjectExample() {
  return Head("GET", "/test.txt",
              {{"Host", "examplebucket.s3.amazonaws.com"},
               {"Range", "bytes=0-9"},
               {"x-amz-content-sha256", kEmptySha},
               {"x-amz-date", "20130524T000000Z"},
               {"Authorization",
                Authorization("host;range;x-amz-content-sha256;x-amz-date",
                              "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")}});
}

TEST(SigV4Example, GetObject) {
  RequestHead h = GetObjectExample();
  SigV4Request a = MustParse(h);
  EXPECT_FALSE(a.presigned);
  EXPECT_EQ(a.credential.access_key, kAccessKey);
  EXPECT_EQ(a.credential.Scope(), "20130524/us-east-1/s3/aws4_request");
  EXPECT_EQ(a.amz_date, "20130524T000000Z");
  EXPECT_EQ(a.payload, PayloadMode::kSignedDigest);
  std::string canonical = CanonicalRequest(h, Query(h), a);
  EXPECT_EQ(canonical,
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
            "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
            "x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  std::string sts = StringToSign(a.amz_date, a.credential.Scope(), canonical);
  EXPECT_EQ(sts,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  Bytes key = SigningKey(kSecret, "20130524", "us-east-1", "s3");
  EXPECT_EQ(SignHex(key, sts), "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");

  VerifyOptions o;
  o.now_s = kExampleTime;
  auto v = VerifySigV4(h, Query(h), a, kSecret, o);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->access_key, kAccessKey);
  EXPECT_EQ(v->seed_signature, a.signature);
  EXPECT_EQ(v->scope, "20130524/us-east-1/s3/aws4_request");
  EXPECT_EQ(v->amz_date, "20130524T000000Z");
  EXPECT_EQ(v->signing_key, key);
  EXPECT_EQ(v->payload, PayloadMode::kSignedDigest);
  EXPECT_EQ(v->payload_hash, kEmptySha);
}

// "Example: PUT Object": '$' in the key, a Date header beside x-amz-date, a signed body hash.
RequestHead PutObjectExample(std::string target = "/test$file.text") {
  return Head(
      "PUT", std::move(target),
      {{"Host", "examplebucket.s3.amazonaws.com"},
       {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
       {"x-amz-date", "20130524T000000Z"},
       {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
       {"x-amz-content-sha256", "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"},
       {"Authorization",
        Authorization("date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
                      "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")}});
}

TEST(SigV4Example, PutObject) {
  EXPECT_EQ(HexEncode(Sha256Of(AsBytes("Welcome to Amazon S3."))),
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  RequestHead h = PutObjectExample();
  SigV4Request a = MustParse(h);
  std::string canonical = CanonicalRequest(h, Query(h), a);
  EXPECT_EQ(canonical,
            "PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\n"
            "host:examplebucket.s3.amazonaws.com\n"
            "x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
            "x-amz-date:20130524T000000Z\nx-amz-storage-class:REDUCED_REDUNDANCY\n\n"
            "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  EXPECT_EQ(StringToSign(a.amz_date, a.credential.Scope(), canonical),
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d");
  EXPECT_TRUE(Verify(h).ok()) << Verify(h).ToString();
  // The same key sent percent-encoded canonicalises identically (no double encoding).
  EXPECT_TRUE(Verify(PutObjectExample("/test%24file.text")).ok());
  EXPECT_TRUE(Verify(PutObjectExample("/test%24file%2etext")).ok());
}

// "Example: GET Bucket Lifecycle": a parameter without '='.
TEST(SigV4Example, GetBucketLifecycle) {
  RequestHead h = Head(
      "GET", "/?lifecycle",
      {{"Host", "examplebucket.s3.amazonaws.com"},
       {"x-amz-date", "20130524T000000Z"},
       {"x-amz-content-sha256", kEmptySha},
       {"Authorization",
        Authorization("host;x-amz-content-sha256;x-amz-date",
                      "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")}});
  SigV4Request a = MustParse(h);
  std::string canonical = CanonicalRequest(h, Query(h), a);
  EXPECT_EQ(canonical,
            "GET\n/\nlifecycle=\nhost:examplebucket.s3.amazonaws.com\n"
            "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
            "x-amz-date:20130524T000000Z\n\nhost;x-amz-content-sha256;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(StringToSign(a.amz_date, a.credential.Scope(), canonical),
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca");
  EXPECT_TRUE(Verify(h).ok());
  h.target = "/?lifecycle=";
  EXPECT_TRUE(Verify(h).ok());
}

// "Example: Get Bucket (List Objects)": sorted parameters.
TEST(SigV4Example, ListObjects) {
  for (std::string target : std::vector<std::string>{"/?max-keys=2&prefix=J", "/?prefix=J&max-keys=2", "/?prefix=%4A&max-keys=2"}) {
    RequestHead h = Head(
        "GET", target,
        {{"Host", "examplebucket.s3.amazonaws.com"},
         {"x-amz-date", "20130524T000000Z"},
         {"x-amz-content-sha256", kEmptySha},
         {"Authorization",
          Authorization("host;x-amz-content-sha256;x-amz-date",
                        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")}});
    SigV4Request a = MustParse(h);
    EXPECT_EQ(CanonicalRequest(h, Query(h), a).rfind("GET\n/\nmax-keys=2&prefix=J\nhost:", 0), 0u)
        << target;
    EXPECT_TRUE(Verify(h).ok()) << target;
    h.target = "/?max-keys=2&prefix=K";
    EXPECT_EQ(Verify(h).reason(), R::kSignatureDoesNotMatch);
  }
}

// "Example: Presigned URL" (sigv4-query-string-auth).
constexpr char kPresignedTarget[] =
    "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";

TEST(SigV4Example, PresignedUrl) {
  RequestHead h = Head("GET", kPresignedTarget, {{"Host", "examplebucket.s3.amazonaws.com"}});
  SigV4Request a = MustParse(h);
  EXPECT_TRUE(a.presigned);
  EXPECT_EQ(a.expires_s, 86400);
  EXPECT_EQ(a.payload, PayloadMode::kUnsigned);
  EXPECT_EQ(a.payload_hash, "UNSIGNED-PAYLOAD");
  EXPECT_EQ(CanonicalRequest(h, Query(h), a),
            "GET\n/test.txt\n"
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-"
            "east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-"
            "SignedHeaders=host\nhost:examplebucket.s3.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD");
  EXPECT_TRUE(Verify(h, kExampleTime).ok()) << Verify(h, kExampleTime).ToString();
  // Valid through X-Amz-Date + X-Amz-Expires, expired one second later.
  EXPECT_TRUE(Verify(h, kExampleTime + 86400).ok());
  Status expired = Verify(h, kExampleTime + 86401);
  EXPECT_EQ(expired.reason(), R::kAccessDenied);
  EXPECT_EQ(expired.message(), "Request has expired");
  // Used before its date: within the skew allowance only.
  EXPECT_TRUE(Verify(h, kExampleTime - 15 * 60).ok());
  EXPECT_EQ(Verify(h, kExampleTime - 15 * 60 - 1).reason(), R::kAccessDenied);
  // Header-form skew does not apply to presigned URLs.
  EXPECT_TRUE(Verify(h, kExampleTime + 3600).ok());
  // Tampering.
  RequestHead t = h;
  t.target.replace(t.target.find("X-Amz-Expires=86400"), 19, "X-Amz-Expires=86401");
  EXPECT_EQ(Verify(t).reason(), R::kSignatureDoesNotMatch);
  t = h;
  t.target.replace(1, 4, "TEST");
  EXPECT_EQ(Verify(t).reason(), R::kSignatureDoesNotMatch);
  t = h;
  t.target += "&extra=1";
  EXPECT_EQ(Verify(t).reason(), R::kSignatureDoesNotMatch);
  t = Head("GET", kPresignedTarget, {{"Host", "otherbucket.s3.amazonaws.com"}});
  EXPECT_EQ(Verify(t).reason(), R::kSignatureDoesNotMatch);
}

// "Signature Calculations ... Transferring Payload in Multiple Chunks": the seed signature.
TEST(SigV4Example, StreamingSeed) {
  RequestHead h = Head(
      "PUT", "/examplebucket/chunkObject.txt",
      {{"Host", "s3.amazonaws.com"},
       {"x-amz-date", "20130524T000000Z"},
       {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
       {"Authorization",
        Authorization("content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
                      "x-amz-decoded-content-length;x-amz-storage-class",
                      "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")},
       {"x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"},
       {"Content-Encoding", "aws-chunked"},
       {"x-amz-decoded-content-length", "66560"},
       {"Content-Length", "66824"}});
  SigV4Request a = MustParse(h);
  EXPECT_EQ(a.payload, PayloadMode::kStreamingSigned);
  EXPECT_EQ(a.payload_hash, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
  VerifyOptions o;
  o.now_s = kExampleTime;
  auto v = VerifySigV4(h, Query(h), a, kSecret, o);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->seed_signature, "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9");
  EXPECT_EQ(v->payload, PayloadMode::kStreamingSigned);
}

// ---- Parsing ------------------------------------------------------------------------------

TEST(SigV4Parse, AnonymousHasNoAuthentication) {
  RequestHead h = Head("GET", "/bucket/key?prefix=a", {{"Host", "h"}});
  auto r = ParseSigV4(h, Query(h));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
}

TEST(SigV4Parse, ComponentSpacingAndOrder) {
  const std::string sig = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
  const std::string cred = std::string("Credential=") + kCredential;
  const std::string sh = "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date";
  const std::vector<std::string> forms = {
      "AWS4-HMAC-SHA256 " + cred + "," + sh + ",Signature=" + sig,
      "AWS4-HMAC-SHA256 " + cred + ", " + sh + ", Signature=" + sig,
      "AWS4-HMAC-SHA256  " + cred + " ,  " + sh + " ,Signature=" + sig + " ",
      "AWS4-HMAC-SHA256 Signature=" + sig + "," + cred + "," + sh,
      "AWS4-HMAC-SHA256 " + sh + ", Signature=" + sig + ", " + cred,
      "AWS4-HMAC-SHA256 " + cred + ",SignedHeaders=HOST;Range;X-Amz-Date;x-amz-content-sha256,"
      "Signature=" + sig,
  };
  for (const std::string& form : forms) {
    RequestHead h = GetObjectExample();
    for (auto& [n, v] : h.headers.fields) {
      if (n == "authorization") v = form;
    }
    EXPECT_TRUE(Verify(h).ok()) << form << ": " << Verify(h).ToString();
  }
}

RequestHead WithAuthorization(std::string value) {
  return Head("GET", "/b/k",
              {{"Host", "h"},
               {"x-amz-date", "20130524T000000Z"},
               {"x-amz-content-sha256", kEmptySha},
               {"Authorization", std::move(value)}});
}

TEST(SigV4Parse, SigV2AndOtherAlgorithmsAreInvalidRequest) {
  RequestHead h = WithAuthorization("AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=");
  auto r = ParseSigV4(h, Query(h));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().reason(), R::kInvalidRequest);
  EXPECT_NE(r.status().message().find("Signature Version 2"), std::string::npos);
  EXPECT_EQ(ParseReason(WithAuthorization("AWS4-ECDSA-P256-SHA256 Credential=a/b/c/s3/aws4_request")),
            R::kInvalidRequest);
  EXPECT_EQ(ParseReason(WithAuthorization("Bearer abc")), R::kInvalidRequest);
  EXPECT_EQ(ParseReason(WithAuthorization("")), R::kInvalidRequest);
  // A SigV2 presigned URL.
  RequestHead q = Head("GET", "/b/k?AWSAccessKeyId=AK&Expires=1141889120&Signature=vjbyPxyb%3D",
                       {{"Host", "h"}});
  EXPECT_EQ(ParseReason(q), R::kInvalidRequest);
}

TEST(SigV4Parse, MalformedHeader) {
  const std::string sig(64, 'a');
  const std::string good_cred = std::string("Credential=") + kCredential;
  for (const std::string& bad : std::vector<std::string>{
           "AWS4-HMAC-SHA256",
           "AWS4-HMAC-SHA256 " + good_cred + ",SignedHeaders=host",
           "AWS4-HMAC-SHA256 " + good_cred + ",Signature=" + sig,
           "AWS4-HMAC-SHA256 SignedHeaders=host,Signature=" + sig,
           "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3,SignedHeaders=host,Signature=" + sig,
           "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_reques,SignedHeaders=host,Signature=" + sig,
           "AWS4-HMAC-SHA256 Credential=/20130524/us-east-1/s3/aws4_request,SignedHeaders=host,Signature=" + sig,
           "AWS4-HMAC-SHA256 Credential=AK/2013052/us-east-1/s3/aws4_request,SignedHeaders=host,Signature=" + sig,
           "AWS4-HMAC-SHA256 Credential=AK/20130524//s3/aws4_request,SignedHeaders=host,Signature=" + sig,
           "AWS4-HMAC-SHA256 " + good_cred + ",SignedHeaders=x-amz-date,Signature=" + sig,  // no host
           "AWS4-HMAC-SHA256 " + good_cred + ",SignedHeaders=host;;x-amz-date,Signature=" + sig,
           "AWS4-HMAC-SHA256 " + good_cred + ",SignedHeaders=host;host,Signature=" + sig,
           "AWS4-HMAC-SHA256 " + good_cred + ",SignedHeaders=,Signature=" + sig,
           "AWS4-HMAC-SHA256 " + good_cred + ",SignedHeaders=host,Signature=" + sig.substr(1),
           "AWS4-HMAC-SHA256 " + good_cred + ",SignedHeaders=host,Signature=" + sig.substr(1) + "g",
           "AWS4-HMAC-SHA256 " + good_cred + ",SignedHeaders=host,Signature=" + sig + ",Signature=" + sig,
           "AWS4-HMAC-SHA256 " + good_cred + ",SignedHeaders=host,Signature=" + sig + ",Foo=bar",
           "AWS4-HMAC-SHA256 " + good_cred + ",SignedHeaders=host,Signature",
       }) {
    EXPECT_EQ(ParseReason(WithAuthorization(bad)), R::kAuthorizationHeaderMalformed) << bad;
  }
}

TEST(SigV4Parse, DateSources) {
  const std::string auth = Authorization("host", std::string(64, '0'));
  // x-amz-date wins over Date.
  SigV4Request a = MustParse(Head("GET", "/", {{"Host", "h"}, {"Date", "Sat, 25 May 2013 00:00:00 GMT"},
                                               {"x-amz-date", "20130524T000000Z"}, {"Authorization", auth}}));
  EXPECT_EQ(a.amz_date, "20130524T000000Z");
  // Date in RFC 1123 form is converted; in ISO 8601 basic form is used as is.
  a = MustParse(Head("GET", "/", {{"Host", "h"}, {"Date", "Fri, 24 May 2013 01:02:03 GMT"}, {"Authorization", auth}}));
  EXPECT_EQ(a.amz_date, "20130524T010203Z");
  a = MustParse(Head("GET", "/", {{"Host", "h"}, {"Date", "20130524T010203Z"}, {"Authorization", auth}}));
  EXPECT_EQ(a.amz_date, "20130524T010203Z");
  // Missing or malformed.
  EXPECT_EQ(ParseReason(Head("GET", "/", {{"Host", "h"}, {"Authorization", auth}})), R::kAccessDenied);
  EXPECT_EQ(ParseReason(Head("GET", "/", {{"Host", "h"}, {"x-amz-date", "2013-05-24T00:00:00Z"}, {"Authorization", auth}})),
            R::kAccessDenied);
  EXPECT_EQ(ParseReason(Head("GET", "/", {{"Host", "h"}, {"Date", "yesterday"}, {"Authorization", auth}})),
            R::kAccessDenied);
}

TEST(SigV4Parse, PayloadModes) {
  const std::string auth = Authorization("host", std::string(64, '0'));
  auto mode = [&](std::string value) {
    return MustParse(Head("PUT", "/b/k", {{"Host", "h"}, {"x-amz-date", "20130524T000000Z"},
                                          {"x-amz-content-sha256", value}, {"Authorization", auth}}));
  };
  EXPECT_EQ(mode("UNSIGNED-PAYLOAD").payload, PayloadMode::kUnsigned);
  EXPECT_EQ(mode("STREAMING-AWS4-HMAC-SHA256-PAYLOAD").payload, PayloadMode::kStreamingSigned);
  EXPECT_EQ(mode("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER").payload,
            PayloadMode::kStreamingSignedTrailer);
  EXPECT_EQ(mode("STREAMING-UNSIGNED-PAYLOAD-TRAILER").payload, PayloadMode::kStreamingUnsignedTrailer);
  SigV4Request d = mode(kEmptySha);
  EXPECT_EQ(d.payload, PayloadMode::kSignedDigest);
  EXPECT_EQ(d.payload_hash, kEmptySha);
  for (const std::string& bad : std::vector<std::string>{"", "unsigned-payload", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
                          std::string(63, 'a'), std::string(64, 'g')}) {
    RequestHead h = Head("PUT", "/b/k", {{"Host", "h"}, {"x-amz-date", "20130524T000000Z"},
                                         {"x-amz-content-sha256", bad}, {"Authorization", auth}});
    auto r = ParseSigV4(h, Query(h));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
    EXPECT_EQ(r.status().reason(), R::kNone) << bad;
  }
  // Without the header the body is the empty one.
  SigV4Request none = MustParse(Head("GET", "/b/k", {{"Host", "h"}, {"x-amz-date", "20130524T000000Z"}, {"Authorization", auth}}));
  EXPECT_EQ(none.payload, PayloadMode::kSignedDigest);
  EXPECT_EQ(none.payload_hash, kEmptySha);
}

std::string PresignedTarget(std::string_view replace_from, std::string_view replace_to) {
  std::string t = kPresignedTarget;
  if (!replace_from.empty()) t.replace(t.find(replace_from), replace_from.size(), replace_to);
  return t;
}

TEST(SigV4Parse, PresignedErrors) {
  auto reason = [](std::string target) {
    return ParseReason(Head("GET", std::move(target), {{"Host", "examplebucket.s3.amazonaws.com"}}));
  };
  using QE = std::pair<std::string, std::string>;
  for (const QE& e : std::vector<QE>{
           {"&X-Amz-Expires=86400", ""},
           {"&X-Amz-SignedHeaders=host", ""},
           {"X-Amz-Date=20130524T000000Z", "X-Amz-Date=2013-05-24"},
           {"X-Amz-Expires=86400", "X-Amz-Expires=0"},
           {"X-Amz-Expires=86400", "X-Amz-Expires=604801"},
           {"X-Amz-Expires=86400", "X-Amz-Expires=-1"},
           {"X-Amz-Expires=86400", "X-Amz-Expires=1e3"},
           {"X-Amz-Expires=86400", "X-Amz-Expires=99999999999999999999"},
           {"X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=range"},
           {"%2Faws4_request", "%2Faws4"},
           {"X-Amz-Signature=aeeed9bb", "X-Amz-Signature=zzzzzzzz"},
           {"X-Amz-Expires=86400", "X-Amz-Expires=86400&X-Amz-Expires=86400"},
       }) {
    EXPECT_EQ(reason(PresignedTarget(e.first, e.second)), R::kAuthorizationQueryParametersError)
        << e.first << " -> " << e.second;
  }
  EXPECT_EQ(reason(PresignedTarget("X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4-HMAC-SHA1")),
            R::kInvalidRequest);
  // A week is the longest allowed.
  SigV4Request a = MustParse(Head("GET", PresignedTarget("X-Amz-Expires=86400", "X-Amz-Expires=604800"),
                                  {{"Host", "h"}}));
  EXPECT_EQ(a.expires_s, 604800);
  // Both mechanisms at once.
  RequestHead both = Head("GET", kPresignedTarget,
                          {{"Host", "h"}, {"Authorization", Authorization("host", std::string(64, '0'))}});
  auto r = ParseSigV4(both, Query(both));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
}

TEST(SigV4Parse, PresignedPayloadHash) {
  // X-Amz-Content-Sha256 in the query is used, and signed like any parameter.
  SigV4Request a = MustParse(Head("PUT", std::string(kPresignedTarget) + "&X-Amz-Content-Sha256=" + kEmptySha,
                                  {{"Host", "h"}}));
  EXPECT_EQ(a.payload, PayloadMode::kSignedDigest);
  EXPECT_EQ(a.payload_hash, kEmptySha);
  // An unsigned x-amz-content-sha256 header is ignored.
  a = MustParse(Head("PUT", kPresignedTarget, {{"Host", "h"}, {"x-amz-content-sha256", kEmptySha}}));
  EXPECT_EQ(a.payload_hash, "UNSIGNED-PAYLOAD");
}

// ---- Canonicalisation ---------------------------------------------------------------------

std::string CanonicalUri(std::string target) {
  RequestHead h = Head("GET", std::move(target), {{"Host", "h"}});
  SigV4Request a;
  a.signed_headers = {"host"};
  std::string c = CanonicalRequest(h, Query(h), a);
  size_t first = c.find('\n');
  return c.substr(first + 1, c.find('\n', first + 1) - first - 1);
}

std::string CanonicalQuery(std::string target, bool presigned = false) {
  RequestHead h = Head("GET", std::move(target), {{"Host", "h"}});
  SigV4Request a;
  a.presigned = presigned;
  a.signed_headers = {"host"};
  std::string c = CanonicalRequest(h, Query(h), a);
  size_t l1 = c.find('\n');
  size_t l2 = c.find('\n', l1 + 1);
  return c.substr(l2 + 1, c.find('\n', l2 + 1) - l2 - 1);
}

TEST(SigV4Canonical, Uri) {
  EXPECT_EQ(CanonicalUri(""), "/");
  EXPECT_EQ(CanonicalUri("/"), "/");
  EXPECT_EQ(CanonicalUri("/bucket/a%20b"), "/bucket/a%20b");           // space
  EXPECT_EQ(CanonicalUri("/bucket/a%2Bb"), "/bucket/a%2Bb");           // '+' sent encoded
  EXPECT_EQ(CanonicalUri("/bucket/a+b"), "/bucket/a%2Bb");             // '+' is not a space in a path
  EXPECT_EQ(CanonicalUri("/bucket/100%25"), "/bucket/100%25");         // '%'
  EXPECT_EQ(CanonicalUri("/bucket/100%2525"), "/bucket/100%2525");     // decoded once only
  EXPECT_EQ(CanonicalUri("/bucket/a~b"), "/bucket/a~b");               // '~' never encoded
  EXPECT_EQ(CanonicalUri("/bucket/a%7Eb"), "/bucket/a~b");
  EXPECT_EQ(CanonicalUri("/bucket/%e4%ba%a4.txt"), "/bucket/%E4%BA%A4.txt");  // unicode
  EXPECT_EQ(CanonicalUri("/bucket/\xe4\xba\xa4.txt"), "/bucket/%E4%BA%A4.txt");
  EXPECT_EQ(CanonicalUri("/bucket//a//b"), "/bucket//a//b");           // no merging
  EXPECT_EQ(CanonicalUri("/bucket/dir/"), "/bucket/dir/");             // trailing '/'
  EXPECT_EQ(CanonicalUri("/bucket/a/../b"), "/bucket/a/../b");         // no normalisation
  EXPECT_EQ(CanonicalUri("/bucket/./c/."), "/bucket/./c/.");
  EXPECT_EQ(CanonicalUri("/bucket/a%2Fb"), "/bucket/a/b");
  EXPECT_EQ(CanonicalUri("/bucket/!'()*$&=,;:@"), "/bucket/%21%27%28%29%2A%24%26%3D%2C%3B%3A%40");
  EXPECT_EQ(CanonicalUri("/bucket/a?x=1"), "/bucket/a");
}

TEST(SigV4Canonical, Query) {
  EXPECT_EQ(CanonicalQuery("/"), "");
  EXPECT_EQ(CanonicalQuery("/?"), "");
  EXPECT_EQ(CanonicalQuery("/?uploads"), "uploads=");
  EXPECT_EQ(CanonicalQuery("/?uploads="), "uploads=");
  EXPECT_EQ(CanonicalQuery("/?versioning&acl"), "acl=&versioning=");
  EXPECT_EQ(CanonicalQuery("/?a=2&a=1&b&a"), "a=&a=1&a=2&b=");
  EXPECT_EQ(CanonicalQuery("/?prefix=a+b"), "prefix=a%20b");
  EXPECT_EQ(CanonicalQuery("/?prefix=a%20b"), "prefix=a%20b");
  EXPECT_EQ(CanonicalQuery("/?prefix=a%2Bb"), "prefix=a%2Bb");
  EXPECT_EQ(CanonicalQuery("/?prefix=%7E~"), "prefix=~~");
  EXPECT_EQ(CanonicalQuery("/?delimiter=/&prefix=x/y"), "delimiter=%2F&prefix=x%2Fy");
  EXPECT_EQ(CanonicalQuery("/?prefix=%E4%BA%A4"), "prefix=%E4%BA%A4");
  EXPECT_EQ(CanonicalQuery("/?list-type=2&continuation-token=a%3D%3D&max-keys=1"),
            "continuation-token=a%3D%3D&list-type=2&max-keys=1");
  EXPECT_EQ(CanonicalQuery("/?x-id=PutObject&partNumber=1&uploadId=a%2Fb"),
            "partNumber=1&uploadId=a%2Fb&x-id=PutObject");
  // Sorted by encoded name: upper case before lower case.
  EXPECT_EQ(CanonicalQuery("/?b=1&B=2&_=3"), "B=2&_=3&b=1");
  // Presigned: everything but X-Amz-Signature.
  EXPECT_EQ(CanonicalQuery("/?X-Amz-Signature=abc&X-Amz-Date=1", true), "X-Amz-Date=1");
  EXPECT_EQ(CanonicalQuery("/?X-Amz-Signature=abc&X-Amz-Date=1", false), "X-Amz-Date=1&X-Amz-Signature=abc");
}

TEST(SigV4Canonical, HeadersTrimmedFoldedAndJoined) {
  RequestHead h = Head("GET", "/", {{"Host", " h "},
                                    {"X-Amz-Meta-A", "  one   two  three "},
                                    {"x-amz-meta-b", "1"},
                                    {"X-AMZ-META-B", " 2 "},
                                    {"x-amz-meta-b", "3  4"},
                                    {"x-amz-meta-c", ""},
                                    {"x-amz-meta-d", "a\tb"},
                                    {"x-amz-meta-unsigned", "zzz"}});
  SigV4Request a;
  a.signed_headers = {"x-amz-meta-b", "host", "x-amz-meta-a", "x-amz-meta-c", "x-amz-meta-d"};
  a.payload_hash = "UNSIGNED-PAYLOAD";
  EXPECT_EQ(CanonicalRequest(h, Query(h), a),
            "GET\n/\n\nhost:h\nx-amz-meta-a:one two three\nx-amz-meta-b:1,2,3 4\nx-amz-meta-c:\n"
            "x-amz-meta-d:a\tb\n\nhost;x-amz-meta-a;x-amz-meta-b;x-amz-meta-c;x-amz-meta-d\n"
            "UNSIGNED-PAYLOAD");
}

// ---- Verification -------------------------------------------------------------------------

// Replaces (or adds) a header's first value.
void SetHeader(RequestHead* h, std::string_view name, std::string value) {
  for (auto& [n, v] : h->headers.fields) {
    if (n == name) {
      v = std::move(value);
      return;
    }
  }
  h->headers.Add(name, value);
}

TEST(SigV4Verify, Tampering) {
  ASSERT_TRUE(Verify(GetObjectExample()).ok());
  RequestHead h = GetObjectExample();
  SetHeader(&h, "authorization",
            Authorization("host;range;x-amz-content-sha256;x-amz-date",
                          "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb40"));
  EXPECT_EQ(Verify(h).reason(), R::kSignatureDoesNotMatch);
  h = GetObjectExample();  // a signed header's value
  SetHeader(&h, "range", "bytes=0-10");
  EXPECT_EQ(Verify(h).reason(), R::kSignatureDoesNotMatch);
  h = GetObjectExample();  // the date, within the skew
  SetHeader(&h, "x-amz-date", "20130524T000001Z");
  EXPECT_EQ(Verify(h).reason(), R::kSignatureDoesNotMatch);
  h = GetObjectExample();  // another day than the credential's
  SetHeader(&h, "x-amz-date", "20130523T235959Z");
  EXPECT_EQ(Verify(h).reason(), R::kAuthorizationHeaderMalformed);
  h = GetObjectExample();
  SetHeader(&h, "host", "otherbucket.s3.amazonaws.com");
  EXPECT_EQ(Verify(h).reason(), R::kSignatureDoesNotMatch);
  h = GetObjectExample();  // a repeated signed header
  h.headers.Add("Range", "bytes=0-9");
  EXPECT_EQ(Verify(h).reason(), R::kSignatureDoesNotMatch);
  h = GetObjectExample();
  h.method = "HEAD";
  EXPECT_EQ(Verify(h).reason(), R::kSignatureDoesNotMatch);
  h = GetObjectExample();
  h.target = "/test.txt?acl";
  EXPECT_EQ(Verify(h).reason(), R::kSignatureDoesNotMatch);
  h = GetObjectExample();
  h.target = "/Test.txt";
  EXPECT_EQ(Verify(h).reason(), R::kSignatureDoesNotMatch);
  h = GetObjectExample();  // the payload hash
  SetHeader(&h, "x-amz-content-sha256", "UNSIGNED-PAYLOAD");
  EXPECT_EQ(Verify(h).reason(), R::kSignatureDoesNotMatch);
  h = GetObjectExample();  // a signed header dropped
  std::erase_if(h.headers.fields, [](const auto& f) { return f.first == "range"; });
  EXPECT_EQ(Verify(h).reason(), R::kSignatureDoesNotMatch);
  // An unsigned header may change; extra whitespace in a signed value is folded away.
  h = GetObjectExample();
  h.headers.Add("User-Agent", "anything");
  SetHeader(&h, "range", "  bytes=0-9 ");
  EXPECT_TRUE(Verify(h).ok());
  // The wrong secret.
  EXPECT_EQ(Verify(GetObjectExample(), kExampleTime, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEZ").reason(),
            R::kSignatureDoesNotMatch);
}

TEST(SigV4Verify, Scope) {
  RequestHead h = GetObjectExample();
  EXPECT_EQ(Verify(h, kExampleTime, kSecret, "eu-west-1").reason(), R::kAuthorizationHeaderMalformed);
  EXPECT_TRUE(Verify(h, kExampleTime, kSecret, "").ok());  // no region configured: any
  SetHeader(&h, "authorization",
            Authorization("host;range;x-amz-content-sha256;x-amz-date", std::string(64, 'a'),
                          "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/ec2/aws4_request"));
  EXPECT_EQ(Verify(h).reason(), R::kAuthorizationHeaderMalformed);
  RequestHead p = Head("GET", PresignedTarget("us-east-1", "eu-west-1"), {{"Host", "examplebucket.s3.amazonaws.com"}});
  EXPECT_EQ(Verify(p).reason(), R::kAuthorizationQueryParametersError);
}

TEST(SigV4Verify, Skew) {
  RequestHead h = GetObjectExample();
  EXPECT_TRUE(Verify(h, kExampleTime + 15 * 60).ok());
  EXPECT_TRUE(Verify(h, kExampleTime - 15 * 60).ok());
  EXPECT_EQ(Verify(h, kExampleTime + 15 * 60 + 1).reason(), R::kRequestTimeTooSkewed);
  EXPECT_EQ(Verify(h, kExampleTime - 15 * 60 - 1).reason(), R::kRequestTimeTooSkewed);
  EXPECT_EQ(Verify(h, 1700000000).reason(), R::kRequestTimeTooSkewed);
  VerifyOptions o;
  o.now_s = kExampleTime + 3600;
  o.max_skew_s = 3600;
  auto q = Query(h);
  auto a = ParseSigV4(h, q);
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(VerifySigV4(h, q, **a, kSecret, o).ok());
}

// ---- Dates --------------------------------------------------------------------------------

TEST(SigV4Dates, AmzDate) {
  EXPECT_EQ(ParseAmzDate("20130524T000000Z"), kExampleTime);
  EXPECT_EQ(ParseAmzDate("19700101T000000Z"), 0);
  EXPECT_EQ(ParseAmzDate("20000229T235959Z"), 951868799);
  EXPECT_EQ(ParseAmzDate("20991231T235959Z"), 4102444799);
  for (const char* bad : {"", "20130524T000000", "20130524t000000Z", "20130524T000000z",
                          "2013-05-24T00:00:00Z", "20131324T000000Z", "20130532T000000Z",
                          "20130230T000000Z", "19000229T000000Z", "20130524T240000Z",
                          "20130524T006000Z", "20130524T000060Z", "20130524T00000+Z",
                          "20130524T000000Z ", "2013052AT000000Z", "20130524T0000000Z"}) {
    EXPECT_FALSE(ParseAmzDate(bad)) << bad;
  }
  EXPECT_TRUE(ParseAmzDate("20240229T000000Z"));
  EXPECT_FALSE(ParseAmzDate("20230229T000000Z"));
  EXPECT_EQ(FormatAmzDate(kExampleTime), "20130524T000000Z");
  EXPECT_EQ(FormatAmzDate(951868799), "20000229T235959Z");
  std::mt19937_64 rng(7);
  for (int i = 0; i < 1000; ++i) {
    int64_t t = int64_t(rng() % 8000000000ull);
    EXPECT_EQ(ParseAmzDate(FormatAmzDate(t)), t);
  }
}

TEST(SigV4Dates, HttpDate) {
  EXPECT_EQ(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
  EXPECT_EQ(ParseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
  EXPECT_EQ(ParseHttpDate("Sun Nov  6 08:49:37 1994"), 784111777);
  EXPECT_EQ(ParseHttpDate("Fri, 24 May 2013 00:00:00 GMT"), kExampleTime);
  EXPECT_EQ(ParseHttpDate("Fri, 4 May 2013 00:00:00 GMT"), kExampleTime - 20 * 86400);
  for (const char* bad : {"", "Sun, 06 Nov 1994 08:49:37", "Sun, 06 Nov 1994 08:49:37 PST",
                          "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 31 Nov 1994 08:49:37 GMT",
                          "Sun, 06 Nov 1994 08:49 GMT", "Sun, 06 Nov 94 08:49:37 GMT",
                          "20130524T000000Z", "Sun, 06 Nov 1994 25:49:37 GMT"}) {
    EXPECT_FALSE(ParseHttpDate(bad)) << bad;
  }
  EXPECT_EQ(FormatHttpDate(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(FormatHttpDate(kExampleTime), "Fri, 24 May 2013 00:00:00 GMT");
  std::mt19937_64 rng(9);
  for (int i = 0; i < 1000; ++i) {
    int64_t t = int64_t(rng() % 8000000000ull);
    EXPECT_EQ(ParseHttpDate(FormatHttpDate(t)), t);
  }
}

TEST(SigV4Dates, Iso8601) {
  EXPECT_EQ(FormatIso8601(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatIso8601(kExampleTime * 1000000000 + 123456789), "2013-05-24T00:00:00.123Z");
  EXPECT_EQ(FormatIso8601(1767323045999999999), "2026-01-02T03:04:05.999Z");
  EXPECT_EQ(FormatIso8601(-1), "1969-12-31T23:59:59.999Z");
}

TEST(SigV4Misc, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
}

// ---- Randomised round trip against an independent signer ----------------------------------

// RFC 3986 unreserved-only encoding, written separately from the library's UriEncode.
std::string RefEncode(std::string_view s, bool keep_slash) {
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out += char(c);
    } else {
      char buf[4];
      snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// Encodes for the wire the way some client might: everything, or only what must be.
std::string WireEncode(std::string_view s, bool keep_slash, std::mt19937& rng, bool query) {
  std::string out;
  for (unsigned char c : s) {
    bool must = c <= ' ' || c >= 0x7f || c == '%' || c == '?' || c == '#' || c == '+' ||
                (query && (c == '&' || c == '=')) || (!keep_slash && c == '/');
    if (!must && rng() % 3) {
      out += char(c);
    } else if (query && c == ' ' && rng() % 2) {
      out += '+';
    } else {
      char buf[4];
      snprintf(buf, sizeof buf, rng() % 2 ? "%%%02X" : "%%%02x", c);
      out += buf;
    }
  }
  return out;
}

std::string RandomText(std::mt19937& rng, size_t max_len) {
  static const std::vector<std::string> kPieces = {
      "a", "Z", "0", " ", "+", "%", "~", "/", "//", ".", "..", "-", "_", "=", "&", "?", "#", "!",
      "*", "'", "(", ")", "$", ",", ";", ":", "@", "[", "]", "\xc3\xa9", "\xe4\xba\xa4",
      "\xf0\x9f\x98\x80", "%41", "%2F", "\x01", "\xff"};
  std::string out;
  size_t n = rng() % (max_len + 1);
  for (size_t i = 0; i < n; ++i) out += kPieces[rng() % kPieces.size()];
  return out;
}

TEST(SigV4RoundTrip, RandomRequests) {
  std::mt19937 rng(20130524);
  const std::vector<std::string> methods = {"GET", "PUT", "POST", "DELETE", "HEAD"};
  for (int iter = 0; iter < 500; ++iter) {
    std::string method = methods[rng() % methods.size()];
    std::string key = "/bucket/" + RandomText(rng, 8);
    if (rng() % 5 == 0) key += "/";
    std::vector<std::pair<std::string, std::string>> params;
    size_t nparams = rng() % 4;
    for (size_t i = 0; i < nparams; ++i) {
      std::string name = RandomText(rng, 3);
      if (name.empty()) name = "x";
      params.emplace_back(name, RandomText(rng, 4));
    }
    std::string target = WireEncode(key, true, rng, false);
    if (!params.empty()) {
      target += '?';
      for (size_t i = 0; i < params.size(); ++i) {
        if (i) target += '&';
        target += WireEncode(params[i].first, false, rng, true);
        if (!params[i].second.empty() || rng() % 2) {
          target += '=';
          target += WireEncode(params[i].second, false, rng, true);
        }
      }
    }
    int64_t now = 1700000000 + int64_t(rng() % 100000000);
    std::string amz_date = FormatAmzDate(now);
    std::string payload = rng() % 2 ? "UNSIGNED-PAYLOAD" : HexEncode(Sha256Of(AsBytes(key)));
    std::string region = rng() % 2 ? "us-east-1" : "eu-central-1";
    std::string secret = "secret/" + std::to_string(rng());

    // Headers, some repeated, with untidy whitespace.
    std::vector<std::pair<std::string, std::string>> headers = {
        {"Host", "bucket.example.com:9000"}, {"X-Amz-Date", amz_date}, {"x-amz-content-sha256", payload}};
    size_t nextra = rng() % 4;
    for (size_t i = 0; i < nextra; ++i) {
      std::string name = "x-amz-meta-" + std::string(1, char('a' + rng() % 3));
      std::string value = std::string(rng() % 3, ' ') + "v" + std::to_string(rng() % 10) +
                          std::string(rng() % 3, ' ') + "w" + std::string(rng() % 3, ' ');
      headers.emplace_back(rng() % 2 ? name : "X-Amz-Meta-" + name.substr(11), value);
    }

    // The reference canonical request.
    std::vector<std::pair<std::string, std::string>> enc;
    for (auto& [n, v] : params) enc.emplace_back(RefEncode(n, false), RefEncode(v, false));
    std::sort(enc.begin(), enc.end());
    std::string cq;
    for (auto& [n, v] : enc) cq += (cq.empty() ? "" : "&") + n + "=" + v;
    std::map<std::string, std::vector<std::string>> by_name;
    for (auto& [n, v] : headers) {
      std::string lower = n;
      for (char& c : lower) c = char(tolower(c));
      std::string folded;
      std::istringstream words(v);
      for (std::string w; words >> w;) folded += (folded.empty() ? "" : " ") + w;
      by_name[lower].push_back(folded);
    }
    std::string ch, sh;
    for (auto& [n, vs] : by_name) {
      ch += n + ":";
      for (size_t i = 0; i < vs.size(); ++i) ch += (i ? "," : "") + vs[i];
      ch += "\n";
      sh += (sh.empty() ? "" : ";") + n;
    }
    std::string canonical = method + "\n" + RefEncode(key, true) + "\n" + cq + "\n" + ch + "\n" +
                            sh + "\n" + payload;
    std::string scope = amz_date.substr(0, 8) + "/" + region + "/s3/aws4_request";
    std::string sts = "AWS4-HMAC-SHA256\n" + amz_date + "\n" + scope + "\n" +
                      HexEncode(Sha256Of(AsBytes(canonical)));
    Bytes k = HmacSha256(AsBytes("AWS4" + secret), AsBytes(amz_date.substr(0, 8)));
    k = HmacSha256(k, AsBytes(region));
    k = HmacSha256(k, AsBytes("s3"));
    k = HmacSha256(k, AsBytes("aws4_request"));
    std::string signature = HexEncode(HmacSha256(k, AsBytes(sts)));

    headers.emplace_back("Authorization",
                         "AWS4-HMAC-SHA256 Credential=AK/" + scope + ", SignedHeaders=" + sh +
                             ", Signature=" + signature);
    RequestHead h = Head(method, target, headers);
    auto q = Query(h);
    auto a = ParseSigV4(h, q);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    ASSERT_TRUE(a->has_value());
    EXPECT_EQ(CanonicalRequest(h, q, **a), canonical) << target;
    VerifyOptions o;
    o.now_s = now + int64_t(rng() % 1801) - 900;
    o.region = region;
    auto v = VerifySigV4(h, q, **a, secret, o);
    ASSERT_TRUE(v.ok()) << target << ": " << v.status().ToString();
    EXPECT_EQ(v->seed_signature, signature);

    // Flip one character of the signature, the secret or the date: each must fail.
    std::string bad_sig = signature;
    bad_sig[rng() % 64] ^= 1;
    if (bad_sig.find_first_not_of("0123456789abcdef") != std::string::npos) bad_sig = std::string(64, '0');
    SigV4Request tampered = **a;
    tampered.signature = bad_sig;
    EXPECT_EQ(VerifySigV4(h, q, tampered, secret, o).status().reason(), R::kSignatureDoesNotMatch);
    EXPECT_EQ(VerifySigV4(h, q, **a, secret + "x", o).status().reason(), R::kSignatureDoesNotMatch);
    tampered = **a;
    int64_t shifted = o.now_s >= now ? now + 1 : now - 1;  // stays within the skew
    tampered.amz_date = FormatAmzDate(shifted);
    if (tampered.amz_date.substr(0, 8) == amz_date.substr(0, 8)) {
      EXPECT_EQ(VerifySigV4(h, q, tampered, secret, o).status().reason(), R::kSignatureDoesNotMatch);
    }
  }
}

// The same for presigned URLs built by a test-side presigner.
TEST(SigV4RoundTrip, RandomPresigned) {
  std::mt19937 rng(86400);
  for (int iter = 0; iter < 200; ++iter) {
    std::string key = "/b/" + RandomText(rng, 6);
    int64_t now = 1600000000 + int64_t(rng() % 100000000);
    std::string amz_date = FormatAmzDate(now);
    int64_t expires = 1 + int64_t(rng() % 604800);
    std::string scope = amz_date.substr(0, 8) + "/us-east-1/s3/aws4_request";
    std::vector<std::pair<std::string, std::string>> params = {
        {"X-Amz-Algorithm", "AWS4-HMAC-SHA256"},
        {"X-Amz-Credential", "AKID/" + scope},
        {"X-Amz-Date", amz_date},
        {"X-Amz-Expires", std::to_string(expires)},
        {"X-Amz-SignedHeaders", "host"}};
    if (rng() % 2) params.emplace_back("x-amz-security-token", RandomText(rng, 5) + "=");
    if (rng() % 2) params.emplace_back("response-content-disposition", "attachment; filename=" + RandomText(rng, 4));
    std::vector<std::pair<std::string, std::string>> enc;
    for (auto& [n, v] : params) enc.emplace_back(RefEncode(n, false), RefEncode(v, false));
    std::sort(enc.begin(), enc.end());
    std::string cq;
    for (auto& [n, v] : enc) cq += (cq.empty() ? "" : "&") + n + "=" + v;
    std::string canonical = "GET\n" + RefEncode(key, true) + "\n" + cq + "\nhost:h\n\nhost\nUNSIGNED-PAYLOAD";
    std::string sts = "AWS4-HMAC-SHA256\n" + amz_date + "\n" + scope + "\n" + HexEncode(Sha256Of(AsBytes(canonical)));
    std::string signature = SignHex(SigningKey("s", amz_date.substr(0, 8), "us-east-1", "s3"), sts);
    std::string target = WireEncode(key, true, rng, false) + "?";
    std::shuffle(params.begin(), params.end(), rng);
    params.emplace_back("X-Amz-Signature", signature);
    for (size_t i = 0; i < params.size(); ++i) {
      target += (i ? "&" : "") + WireEncode(params[i].first, false, rng, true) + "=" +
                WireEncode(params[i].second, false, rng, true);
    }
    RequestHead h = Head("GET", target, {{"Host", "h"}});
    auto q = Query(h);
    auto a = ParseSigV4(h, q);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    ASSERT_TRUE(a->has_value());
    VerifyOptions o;
    o.now_s = now + int64_t(rng() % uint64_t(expires + 1));
    auto v = VerifySigV4(h, q, **a, "s", o);
    ASSERT_TRUE(v.ok()) << target << ": " << v.status().ToString();
    o.now_s = now + expires + 1;
    auto late = VerifySigV4(h, q, **a, "s", o);
    ASSERT_FALSE(late.ok());
    EXPECT_EQ(late.status().reason(), R::kAccessDenied);
  }
}

}  // namespace
}  // namespace s3xfs::s3
