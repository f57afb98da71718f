// The S3Service test fixture: a service over an in-memory core, requests signed here with the
// sigv4 functions and fed to it the way the Beast server does (Begin, OnBody pieces, Finish).
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "s3xfs/blockstore/memory.h"
#include "s3xfs/s3/checksum.h"
#include "s3xfs/s3/service.h"
#include "s3xfs/s3/sigv4.h"
#include "testutil.h"

namespace s3xfs::s3 {

constexpr int64_t kNow = 1790000000;  // fixed clock
constexpr char kAk[] = "TESTKEY1";
constexpr char kSk[] = "testsecret-0123456789";

struct Reply {
  int status = 0;
  HeaderList headers;
  std::string body;
  bool close = false;
  bool head_only = false;
  uint64_t content_length = 0;
  bool chunked = false;
  std::string Header(std::string_view lower) const {
    const std::string* v = headers.Find(lower);
    return v ? *v : "";
  }
};

class S3ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ObjectStoreOptions o;
    o.ledger_path = dir_.path() + "/ledger.db";
    store_ = std::move(ObjectStore::Open(o, &blocks_).value());
    auto keys = KeyStore::Parse(std::string(kAk) + " " + kSk +
                                "\nOTHERKEY other-secret-000\ngrant * public read\n");
    ASSERT_TRUE(keys.ok()) << keys.status().ToString();
    keys_ = std::make_unique<KeyStore>(std::move(*keys));
    Restart(S3ServiceOptions{});
  }

  // A new service over the same store and keys (the clock and change hook set here).
  void Restart(S3ServiceOptions so) {
    so.now_s = [this] { return now_; };
    service_ = std::make_unique<S3Service>(store_.get(), keys_.get(), so);
    service_->SetChangeHook([this](const std::string& b, const std::string& k) {
      changes_.push_back(b + "/" + k);
    });
  }

  // A signed request (header form, signed payload digest unless `payload_hash` is given).
  RequestHead Signed(std::string method, std::string target, std::string_view body,
                     std::vector<std::pair<std::string, std::string>> extra = {},
                     std::string ak = kAk, std::string sk = kSk, std::string payload_hash = "") {
    RequestHead h;
    h.method = std::move(method);
    h.target = std::move(target);
    h.headers.Add("host", "127.0.0.1:9000");
    std::string date = FormatAmzDate(now_);
    h.headers.Add("x-amz-date", date);
    if (payload_hash.empty()) payload_hash = HexEncode(Sha256Of(AsBytes(body)));
    h.headers.Add("x-amz-content-sha256", payload_hash);
    h.headers.Add("content-length", std::to_string(body.size()));
    for (auto& [k, v] : extra) h.headers.Add(k, v);
    SigV4Request a;
    a.credential = {ak, date.substr(0, 8), "us-east-1", "s3"};
    for (const auto& [name, value] : h.headers.fields) a.signed_headers.push_back(name);
    std::sort(a.signed_headers.begin(), a.signed_headers.end());
    a.amz_date = date;
    a.payload_hash = payload_hash;
    auto query = ParseQuery(SplitRequestTarget(h.target).raw_query).value();
    std::string sts = StringToSign(date, a.credential.Scope(), CanonicalRequest(h, query, a));
    std::string sig = SignHex(SigningKey(sk, a.credential.date, "us-east-1", "s3"), sts);
    std::string signed_list;
    for (const auto& n : a.signed_headers) signed_list += (signed_list.empty() ? "" : ";") + n;
    h.headers.Add("authorization", "AWS4-HMAC-SHA256 Credential=" + ak + "/" + a.credential.Scope() +
                                       ", SignedHeaders=" + signed_list + ", Signature=" + sig);
    last_signature_ = sig;
    return h;
  }

  Reply Run(const RequestHead& head, std::string_view body = "", size_t piece = 7) {
    auto ex = service_->Begin(head);
    bool complete = true;
    if (ex->WantsBody()) {
      for (size_t i = 0; i < body.size(); i += piece) {
        if (!ex->OnBody(AsBytes(body.substr(i, piece))).ok()) {
          complete = false;
          break;
        }
      }
    }
    Response r = ex->Finish(complete);
    Reply out{r.status, r.headers, r.body, r.close, r.head_only, r.content_length, r.chunked};
    if (r.stream) {
      std::vector<uint8_t> buf(5000);
      for (;;) {
        auto n = r.stream->Read(buf);
        EXPECT_TRUE(n.ok());
        if (!n.ok() || *n == 0) break;
        out.body.append(reinterpret_cast<const char*>(buf.data()), *n);
      }
      if (!r.chunked) {
        EXPECT_EQ(out.body.size(), r.content_length);
      }
    }
    // What the server does once the response is out: metrics and the failure log line.
    ex->Done(RequestOutcome{r.status, complete ? body.size() : 0, out.body.size(), 0.001, true});
    return out;
  }

  Reply Do(std::string method, std::string target, std::string body = "",
           std::vector<std::pair<std::string, std::string>> extra = {}) {
    return Run(Signed(std::move(method), std::move(target), body, std::move(extra)), body);
  }

  testing::TempDir dir_;
  MemoryBlockStore blocks_;
  std::unique_ptr<ObjectStore> store_;
  std::unique_ptr<KeyStore> keys_;
  std::unique_ptr<S3Service> service_;
  std::vector<std::string> changes_;
  int64_t now_ = kNow;
  std::string last_signature_;
};

}  // namespace s3xfs::s3
