// Editing the S3 keys file (s3xfs keys): atomic, mode 0600, other lines kept, clear refusals.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "s3xfs/s3/credentials.h"
#include "testutil.h"

namespace s3xfs::s3 {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Slurp(const std::string& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void Spit(const std::string& p, const std::string& text, mode_t mode) {
  std::ofstream(p) << text;
  ::chmod(p.c_str(), mode);
}

mode_t ModeOf(const std::string& p) {
  struct stat sb {};
  ::stat(p.c_str(), &sb);
  return sb.st_mode & 07777;
}

TEST(KeysFile, AddCreatesAMissingFileWithMode0600) {
  testing::TempDir dir;
  std::string path = dir.path() + "/sub/s3-keys";
  ASSERT_TRUE(AddKeyToFile(path, "FIRSTKEY", "first-secret-1").ok());
  EXPECT_EQ(ModeOf(path), 0600u);
  auto ks = KeyStore::Load(path);
  ASSERT_TRUE(ks.ok()) << ks.status().ToString();
  EXPECT_THAT(ks->access_keys(), ElementsAre("FIRSTKEY"));
  EXPECT_EQ(*ks->SecretOf("FIRSTKEY"), "first-secret-1");
}

TEST(KeysFile, AddKeepsEverythingElseAndTightensTheMode) {
  testing::TempDir dir;
  std::string path = dir.path() + "/s3-keys";
  std::string before = "# my keys\nAKEY a-secret-0001   # admin\ngrant * public read\n";
  Spit(path, before, 0644);
  ASSERT_TRUE(AddKeyToFile(path, "BKEY", "b-secret-0002").ok());
  EXPECT_EQ(Slurp(path), before + "BKEY b-secret-0002\n");
  EXPECT_EQ(ModeOf(path), 0600u);
  auto ks = KeyStore::Load(path);
  ASSERT_TRUE(ks.ok());
  EXPECT_THAT(ks->access_keys(), ElementsAre("AKEY", "BKEY"));
  EXPECT_EQ(ks->default_key(), "AKEY");
  // No temporary file is left behind.
  int entries = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.path())) entries += e.is_regular_file();
  EXPECT_EQ(entries, 1);
}

TEST(KeysFile, AddRefusesDuplicatesAndMalformedPairs) {
  testing::TempDir dir;
  std::string path = dir.path() + "/s3-keys";
  Spit(path, "AKEY a-secret-0001\n", 0600);
  Status dup = AddKeyToFile(path, "AKEY", "other-secret-9");
  EXPECT_EQ(dup.code(), Status::Code::kAlreadyExists);
  EXPECT_EQ(AddKeyToFile(path, "a b", "secret-secret").code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(AddKeyToFile(path, "OKKEY", "short").code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(AddKeyToFile(path, "OKKEY", "has space in it").code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(Slurp(path), "AKEY a-secret-0001\n");
  // A file that is malformed elsewhere is not rewritten.
  Spit(path, "AKEY a-secret-0001\nthis line is bad\n", 0600);
  Status bad = AddKeyToFile(path, "OKKEY", "ok-secret-123");
  EXPECT_EQ(bad.code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(bad.message(), HasSubstr("line 2"));
  EXPECT_EQ(Slurp(path), "AKEY a-secret-0001\nthis line is bad\n");
}

TEST(KeysFile, RemoveDropsOnlyThatPair) {
  testing::TempDir dir;
  std::string path = dir.path() + "/s3-keys";
  Spit(path, "# keys\nAKEY a-secret-0001\nBKEY b-secret-0002 # ops\ngrant BKEY bkt write\nCKEY c-secret-0003\n", 0640);
  ASSERT_TRUE(RemoveKeyFromFile(path, "BKEY", false).ok());
  EXPECT_EQ(Slurp(path), "# keys\nAKEY a-secret-0001\ngrant BKEY bkt write\nCKEY c-secret-0003\n");
  EXPECT_EQ(ModeOf(path), 0600u);
  EXPECT_EQ(RemoveKeyFromFile(path, "BKEY", false).code(), Status::Code::kNotFound);
}

TEST(KeysFile, RemoveGuardsTheFirstAndTheLastPair) {
  testing::TempDir dir;
  std::string path = dir.path() + "/s3-keys";
  Spit(path, "AKEY a-secret-0001\nBKEY b-secret-0002\n", 0600);
  Status first = RemoveKeyFromFile(path, "AKEY", false);
  EXPECT_EQ(first.code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(first.message(), HasSubstr("first pair"));
  EXPECT_THAT(first.message(), HasSubstr("BKEY"));
  ASSERT_TRUE(RemoveKeyFromFile(path, "AKEY", true).ok());
  EXPECT_EQ(Slurp(path), "BKEY b-secret-0002\n");
  Status last = RemoveKeyFromFile(path, "BKEY", true);
  EXPECT_EQ(last.code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(last.message(), HasSubstr("only pair"));
  EXPECT_EQ(RemoveKeyFromFile(dir.path() + "/none", "BKEY", true).code(), Status::Code::kNotFound);
}

TEST(KeysFile, GeneratedPairsAreValidAndDistinct) {
  auto [a1, s1] = GenerateKeyPair();
  auto [a2, s2] = GenerateKeyPair();
  EXPECT_TRUE(ValidateKeyPair(a1, s1).ok());
  EXPECT_EQ(a1.size(), 20u);
  EXPECT_EQ(s1.size(), 40u);
  EXPECT_NE(a1, a2);
  EXPECT_NE(s1, s2);
}

TEST(KeysFile, LoadSaysWhatIsWrong) {
  testing::TempDir dir;
  EXPECT_EQ(KeyStore::Load(dir.path() + "/none").status().code(), Status::Code::kNotFound);
  std::string path = dir.path() + "/s3-keys";
  Spit(path, "AKEY\n", 0600);
  auto bad = KeyStore::Load(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr(path + ": keys file line 1"));
}

}  // namespace
}  // namespace s3xfs::s3
