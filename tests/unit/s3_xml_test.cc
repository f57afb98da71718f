// The XML subset for S3 bodies: real request bodies, entities/CDATA/comments, malformed input,
// DOCTYPE and limits, and the writer (escaping, round trip through the parser).
#include "s3xfs/s3/xml.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>

namespace s3xfs::s3 {
namespace {

XmlElement MustParse(std::string_view doc, const XmlLimits& limits = {}) {
  auto r = ParseXml(doc, limits);
  EXPECT_TRUE(r.ok()) << r.status().ToString() << "\n" << doc;
  if (!r.ok()) return {};
  return std::move(r).value();
}

void ExpectMalformed(std::string_view doc, const XmlLimits& limits = {}) {
  auto r = ParseXml(doc, limits);
  ASSERT_FALSE(r.ok()) << "accepted: " << doc;
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument) << doc;
  EXPECT_EQ(r.status().reason(), Status::Reason::kMalformedXml) << doc;
  EXPECT_FALSE(r.status().message().empty());
}

TEST(XmlParse, CompleteMultipartUpload) {
  const std::string doc = R"(<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Part>
    <ETag>"a54357aff0632cce46d942af68356b38"</ETag>
    <PartNumber>1</PartNumber>
    <ChecksumCRC32>y/Q5Jg==</ChecksumCRC32>
  </Part>
  <Part><PartNumber>2</PartNumber><ETag>&quot;0c78aef83f66abc1fa1e8477f296d394&quot;</ETag></Part>
</CompleteMultipartUpload>
)";
  XmlElement root = MustParse(doc);
  EXPECT_EQ(root.name, "CompleteMultipartUpload");
  EXPECT_TRUE(root.attributes.empty());  // xmlns is not an attribute
  auto parts = root.Children("Part");
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0]->ChildText("ETag"), "\"a54357aff0632cce46d942af68356b38\"");
  EXPECT_EQ(parts[0]->ChildText("PartNumber"), "1");
  EXPECT_EQ(parts[0]->ChildText("ChecksumCRC32"), "y/Q5Jg==");
  EXPECT_EQ(parts[1]->ChildText("PartNumber"), "2");
  EXPECT_EQ(parts[1]->ChildText("ETag"), "\"0c78aef83f66abc1fa1e8477f296d394\"");
  EXPECT_EQ(parts[1]->ChildText("ChecksumCRC32", "none"), "none");
  EXPECT_EQ(root.Child("Nope"), nullptr);
  EXPECT_TRUE(root.Children("Nope").empty());
}

TEST(XmlParse, DeleteWithQuietAnd1000Objects) {
  std::string doc = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Delete xmlns=\"";
  doc += kS3Namespace;
  doc += "\"><Quiet>true</Quiet>";
  for (int i = 0; i < 1000; ++i) {
    doc += "<Object><Key>dir/some key &amp; more/" + std::to_string(i) + ".txt</Key>";
    if (i % 2) doc += "<VersionId>null</VersionId>";
    doc += "</Object>";
  }
  doc += "</Delete>";
  XmlElement root = MustParse(doc);
  EXPECT_EQ(root.name, "Delete");
  EXPECT_EQ(root.ChildText("Quiet"), "true");
  auto objects = root.Children("Object");
  ASSERT_EQ(objects.size(), 1000u);
  EXPECT_EQ(objects[0]->ChildText("Key"), "dir/some key & more/0.txt");
  EXPECT_EQ(objects[999]->ChildText("Key"), "dir/some key & more/999.txt");
  EXPECT_EQ(objects[1]->ChildText("VersionId"), "null");
  EXPECT_EQ(objects[0]->Child("VersionId"), nullptr);

  // 1000 objects with long keys (S3's maximum, 1024 bytes) still fit the default 1 MiB limit.
  std::string big = "<Delete>";
  for (int i = 0; i < 1000; ++i) big += "<Object><Key>" + std::string(1000, 'k') + "</Key></Object>";
  big += "</Delete>";
  EXPECT_EQ(MustParse(big).Children("Object").size(), 1000u);
}

TEST(XmlParse, CreateBucketConfiguration) {
  XmlElement root = MustParse(
      "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>");
  EXPECT_EQ(root.name, "CreateBucketConfiguration");
  EXPECT_EQ(root.ChildText("LocationConstraint"), "eu-west-1");
  // An empty configuration, as some clients send.
  XmlElement empty = MustParse("<CreateBucketConfiguration/>");
  EXPECT_EQ(empty.name, "CreateBucketConfiguration");
  EXPECT_TRUE(empty.children.empty());
  EXPECT_EQ(empty.ChildText("LocationConstraint"), "");
}

TEST(XmlParse, NamespacePrefixesAreDropped) {
  XmlElement root = MustParse(
      "<s3:Delete xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\" "
      "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">"
      "<s3:Object><s3:Key>k</s3:Key></s3:Object>"
      "<Grantee xsi:type=\"CanonicalUser\"><ID>x</ID></Grantee></s3:Delete>");
  EXPECT_EQ(root.name, "Delete");
  EXPECT_TRUE(root.attributes.empty());
  ASSERT_NE(root.Child("Object"), nullptr);
  EXPECT_EQ(root.Child("Object")->ChildText("Key"), "k");
  const XmlElement* grantee = root.Child("Grantee");
  ASSERT_NE(grantee, nullptr);
  EXPECT_EQ(grantee->attributes.at("type"), "CanonicalUser");
}

TEST(XmlParse, AttributesKeptAndDecoded) {
  XmlElement root =
      MustParse("<a x='1' y = \"two &amp; &lt;three&gt;\" z=\"a\tb\nc\r\nd\" q='\"' e=''/>");
  EXPECT_EQ(root.attributes.size(), 5u);
  EXPECT_EQ(root.attributes.at("x"), "1");
  EXPECT_EQ(root.attributes.at("y"), "two & <three>");
  EXPECT_EQ(root.attributes.at("z"), "a b c d");  // attribute-value normalization
  EXPECT_EQ(root.attributes.at("q"), "\"");
  EXPECT_EQ(root.attributes.at("e"), "");
}

TEST(XmlParse, EntitiesAndCharacterReferences) {
  XmlElement root = MustParse(
      "<k>&lt;&gt;&amp;&quot;&apos; &#65;&#x42;&#x63; &#233;&#x20AC;&#x1F600; &#1;&#x7f;</k>");
  EXPECT_EQ(root.text, "<>&\"' ABc \xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80 \x01\x7f");
  EXPECT_EQ(MustParse("<k>&#x10FFFF;</k>").text, "\xF4\x8F\xBF\xBF");
  EXPECT_EQ(MustParse("<k>&#0000000065;</k>").text, "A");
  EXPECT_EQ(MustParse("<k>&#13;</k>").text, "\r");
}

TEST(XmlParse, CdataCommentsAndProcessingInstructions) {
  XmlElement root = MustParse(
      "<?xml version='1.0'?><!-- before --><?app data?>\n"
      "<r><!-- inside -->a<![CDATA[<b>&amp;]]]]>c<?pi x?>d<![CDATA[]]></r>\n"
      "<!-- after --><?after?>\n");
  EXPECT_EQ(root.name, "r");
  EXPECT_EQ(root.text, "a<b>&amp;]]c" "d");
  EXPECT_TRUE(root.children.empty());
}

TEST(XmlParse, TextKeepsWhitespaceAndConcatenatesAroundChildren) {
  XmlElement root = MustParse("<r> a <c>x</c> b <c> y </c></r>");
  EXPECT_EQ(root.text, " a  b ");
  auto cs = root.Children("c");
  ASSERT_EQ(cs.size(), 2u);
  EXPECT_EQ(cs[1]->text, " y ");
  EXPECT_EQ(MustParse("<Key>   </Key>").text, "   ");
}

TEST(XmlParse, LineEndsNormalized) {
  EXPECT_EQ(MustParse("<k>a\r\nb\rc\n</k>").text, "a\nb\nc\n");
  EXPECT_EQ(MustParse("<k><![CDATA[a\r\nb]]></k>").text, "a\nb");
}

TEST(XmlParse, BomDeclarationAndEpilogWhitespace) {
  EXPECT_EQ(MustParse("\xEF\xBB\xBF<?xml version=\"1.0\"?><a/>").name, "a");
  EXPECT_EQ(MustParse("  \n<a></a>\n\n").name, "a");
  EXPECT_EQ(MustParse("<a   ></a  >").name, "a");
  EXPECT_EQ(MustParse("<a/>").name, "a");
  EXPECT_EQ(MustParse("<?xml-stylesheet href='x'?><a/>").name, "a");
}

TEST(XmlParse, NamesWithDigitsDotsDashesAndUtf8) {
  XmlElement root = MustParse("<a.b-c_1><_x/><\xC3\xA9l\xC3\xA9ment/></a.b-c_1>");
  EXPECT_EQ(root.name, "a.b-c_1");
  ASSERT_EQ(root.children.size(), 2u);
  EXPECT_EQ(root.children[1].name, "\xC3\xA9l\xC3\xA9ment");
}

TEST(XmlParse, BadUtf8PassesThroughAsBytes) {
  EXPECT_EQ(MustParse("<k>\xFF\xFE\xC3</k>").text, "\xFF\xFE\xC3");
}

TEST(XmlParse, Malformed) {
  const char* kBad[] = {
      "",
      "   ",
      "text",
      "<",
      "<>",
      "< a/>",
      "<a",
      "<a>",
      "<a/",
      "<a></b>",
      "<a><b></a></b>",
      "<a></a></a>",
      "<a><b></a>",
      "</a>",
      "<a></A>",
      "<p:a></q:a>",
      "<p:a></a>",
      "<a></a><b></b>",
      "<a/><a/>",
      "text<a/>",
      "<a/>text",
      "<a/>&amp;",
      "<1a/>",
      "<-a/>",
      "<:a/>",
      "<a:/>",
      "<a:b:c/>",
      "<a b/>",
      "<a b=/>",
      "<a b=c/>",
      "<a b='c/>",
      "<a b=\"c'/>",
      "<a b='<'/>",
      "<a b='1' b='2'/>",
      "<a p:b='1' q:b='2'/>",
      "<a b='1'c='2'/>",
      "<a =''/>",
      "<a>&unknown;</a>",
      "<a>&amp</a>",
      "<a>&</a>",
      "<a>& amp;</a>",
      "<a>&;</a>",
      "<a>&#;</a>",
      "<a>&#x;</a>",
      "<a>&#0;</a>",
      "<a>&#x0;</a>",
      "<a>&#xD800;</a>",
      "<a>&#xDFFF;</a>",
      "<a>&#x110000;</a>",
      "<a>&#99999999999999999999;</a>",
      "<a>&#12a;</a>",
      "<a>&#X41;</a>",
      "<a>&#-1;</a>",
      "<a>&#65</a>",
      "<a b='&bad;'/>",
      "<a b='&#0;'/>",
      "<a>]]></a>",
      "<a>x]]>y</a>",
      "<a><![CDATA[x</a>",
      "<a><![CDATA[x]]</a>",
      "<a><!-- x </a>",
      "<a><!-- a -- b --></a>",
      "<a><!-- x ---></a>",
      "<!-- x --",
      "<a><!ELEMENT a ANY></a>",
      "<a><!x></a>",
      "<a><?xml version='1.0'?></a>",
      "<a/><?xml version='1.0'?>",
      "<!-- c --><?xml version='1.0'?><a/>",
      "<?XML version='1.0'?><a/>",
      "<a><? x?></a>",
      "<a><?pi</a>",
      "<?xml version='1.0'",
      "<?xml version='1.0'?>",
      "<?pi?>",
      "<a></a ",
      "<a></ a>",
      "<a></>",
      "<a>\0</a>",
      "<![CDATA[x]]><a/>",
      "<a/><![CDATA[x]]>",
  };
  for (const char* bad : kBad) {
    SCOPED_TRACE(bad);
    ExpectMalformed(bad);
  }
  // NULs need explicit lengths.
  ExpectMalformed(std::string_view("<a>x\0y</a>", 10));
  ExpectMalformed(std::string_view("<a b='\0'/>", 10));
  ExpectMalformed(std::string_view("<a><![CDATA[\0]]></a>", 20));
  ExpectMalformed(std::string_view("<a/>\0", 5));
}

TEST(XmlParse, ErrorMessagesSayWhereAndWhat) {
  auto r = ParseXml("<a><b></c></a>");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("end tag"), std::string::npos) << r.status().ToString();
  EXPECT_NE(r.status().message().find("offset 6"), std::string::npos) << r.status().ToString();
}

TEST(XmlParse, DoctypeRefused) {
  ExpectMalformed("<!DOCTYPE a><a/>");
  ExpectMalformed("<?xml version=\"1.0\"?>\n<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>");
  ExpectMalformed("<a/><!DOCTYPE a>");
  ExpectMalformed("<a><!DOCTYPE a></a>");
  // Billion laughs: refused at the DOCTYPE, long before anything could expand.
  std::string bomb = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n";
  for (int i = 1; i <= 9; ++i) {
    bomb += "<!ENTITY lol" + std::to_string(i) + " \"";
    for (int j = 0; j < 10; ++j) bomb += "&lol" + (i == 1 ? std::string() : std::to_string(i - 1)) + ";";
    bomb += "\">\n";
  }
  bomb += "]>\n<lolz>&lol9;</lolz>";
  auto r = ParseXml(bomb);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("DOCTYPE"), std::string::npos);
  // An external entity (XXE) is refused the same way, and a bare reference is undefined.
  ExpectMalformed(
      "<!DOCTYPE a [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><a>&xxe;</a>");
  ExpectMalformed("<a>&xxe;</a>");
}

TEST(XmlParse, SizeLimitCheckedFirst) {
  XmlLimits limits;
  limits.max_bytes = 10;
  EXPECT_TRUE(ParseXml("<a>12</a>", limits).ok());
  EXPECT_TRUE(ParseXml("<a>123</a>", limits).ok());  // exactly 10 bytes
  ExpectMalformed("<a>1234</a>", limits);
  // Over the limit is refused even when the extra bytes would be malformed.
  auto r = ParseXml(std::string(11, '<'), limits);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("limit"), std::string::npos);
  // Default: 1 MiB.
  std::string big = "<a>" + std::string((1 << 20) - 7, 'x') + "</a>";
  ASSERT_EQ(big.size(), size_t{1} << 20);
  EXPECT_TRUE(ParseXml(big).ok());
  big.insert(3, "x");
  ExpectMalformed(big);
}

std::string Nested(size_t depth) {
  std::string doc;
  for (size_t i = 0; i < depth; ++i) doc += "<a>";
  for (size_t i = 0; i < depth; ++i) doc += "</a>";
  return doc;
}

TEST(XmlParse, DepthLimit) {
  EXPECT_TRUE(ParseXml(Nested(16)).ok());
  ExpectMalformed(Nested(17));
  XmlLimits limits;
  limits.max_depth = 3;
  EXPECT_TRUE(ParseXml("<a><b><c/></b></a>", limits).ok());
  ExpectMalformed("<a><b><c><d/></c></b></a>", limits);
  limits.max_depth = 0;
  ExpectMalformed("<a/>", limits);
  // Deep unclosed nesting far beyond the limit stops at the limit (no recursion anywhere).
  std::string deep;
  for (int i = 0; i < 200000; ++i) deep += "<a>";
  ExpectMalformed(deep);
  // With the limit lifted, the parser is still iterative: 100000 levels parse fine.
  limits.max_depth = SIZE_MAX;
  limits.max_elements = SIZE_MAX;
  auto r = ParseXml(Nested(100000), limits);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // Free it iteratively too (the default destructor would recurse 100000 frames).
  XmlElement root = std::move(r).value();
  std::vector<XmlElement> chain;
  XmlElement cur = std::move(root);
  size_t levels = 1;
  while (!cur.children.empty()) {
    XmlElement next = std::move(cur.children[0]);
    cur.children.clear();
    cur = std::move(next);
    ++levels;
  }
  EXPECT_EQ(levels, 100000u);
}

TEST(XmlParse, ElementLimit) {
  XmlLimits limits;
  limits.max_elements = 3;
  EXPECT_TRUE(ParseXml("<a><b/><c/></a>", limits).ok());
  ExpectMalformed("<a><b/><c/><d/></a>", limits);
  // Default 10000: a flat list of 9999 children plus the root is fine, one more is not.
  std::string doc = "<r>";
  for (int i = 0; i < 9999; ++i) doc += "<e/>";
  EXPECT_TRUE(ParseXml(doc + "</r>").ok());
  ExpectMalformed(doc + "<e/></r>");
  // Many tiny elements within 1 MiB hit the element limit, not memory.
  std::string many = "<r>";
  while (many.size() < 900000) many += "<e/>";
  many += "</r>";
  ExpectMalformed(many);
}

TEST(XmlParse, RandomGarbageNeverCrashes) {
  std::mt19937_64 rng(7);
  const std::string alphabet = "<>/=&;#x'\"![]?-: aAbB0\r\n\t";
  const std::string pieces[] = {"<a>", "</a>", "<b/>", "<![CDATA[", "]]>", "<!--", "-->",
                                "&amp;", "&#x41;", "<?pi", "?>", "<!DOCTYPE", "x='1'"};
  for (int round = 0; round < 20000; ++round) {
    std::string doc;
    size_t n = rng() % 40;
    for (size_t i = 0; i < n; ++i) {
      if (rng() % 3 == 0) {
        doc += pieces[rng() % std::size(pieces)];
      } else {
        doc += alphabet[rng() % alphabet.size()];
      }
    }
    auto r = ParseXml(doc);
    if (!r.ok()) {
      EXPECT_EQ(r.status().reason(), Status::Reason::kMalformedXml);
    }
  }
}

TEST(XmlEscape, FiveCharactersAndCarriageReturn) {
  EXPECT_EQ(XmlEscape("plain text/é"), "plain text/é");
  EXPECT_EQ(XmlEscape("a<b>c&d\"e'f"), "a&lt;b&gt;c&amp;d&quot;e&apos;f");
  EXPECT_EQ(XmlEscape("&amp;"), "&amp;amp;");
  EXPECT_EQ(XmlEscape("a\r\nb"), "a&#13;\nb");
  EXPECT_EQ(XmlEscape(""), "");
}

TEST(XmlWriter, Output) {
  XmlWriter w("ListBucketResult", kS3Namespace);
  w.Element("Name", "bucket");
  w.Open("Contents");
  w.Element("Key", "a<b>&c");
  w.Element("Size", "3");
  w.Close();
  w.Open("CommonPrefixes");
  w.Element("Prefix", "d/");
  EXPECT_EQ(w.Finish(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
            "<Name>bucket</Name><Contents><Key>a&lt;b&gt;&amp;c</Key><Size>3</Size></Contents>"
            "<CommonPrefixes><Prefix>d/</Prefix></CommonPrefixes></ListBucketResult>");
  XmlWriter bare("Error");
  EXPECT_EQ(bare.Finish(), "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error></Error>");
}

TEST(XmlWriter, RoundTripThroughParser) {
  std::mt19937_64 rng(11);
  std::vector<std::string> keys;
  for (int i = 0; i < 300; ++i) {
    std::string k;
    size_t n = rng() % 30;
    for (size_t j = 0; j < n; ++j) {
      // Any byte but NUL: markup characters, quotes, CR/LF, controls, high bytes.
      k.push_back(static_cast<char>(1 + rng() % 255));
    }
    keys.push_back(k);
  }
  keys.push_back("]]>");
  keys.push_back("&#0;");
  keys.push_back("<![CDATA[x]]>");
  keys.push_back("line\r\nend\r");
  XmlWriter w("DeleteResult", kS3Namespace);
  for (const auto& k : keys) {
    w.Open("Deleted");
    w.Element("Key", k);
    w.Close();
  }
  std::string doc = w.Finish();
  XmlElement root = MustParse(doc);
  EXPECT_EQ(root.name, "DeleteResult");
  auto deleted = root.Children("Deleted");
  ASSERT_EQ(deleted.size(), keys.size());
  for (size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(deleted[i]->ChildText("Key"), keys[i]) << i;
}

TEST(XmlWriter, EscapedAttributeRoundTrip) {
  std::string doc = "<a v=\"" + XmlEscape("q\"'<>&") + "\" w='" + XmlEscape("q\"'<>&") + "'/>";
  XmlElement root = MustParse(doc);
  EXPECT_EQ(root.attributes.at("v"), "q\"'<>&");
  EXPECT_EQ(root.attributes.at("w"), "q\"'<>&");
}

}  // namespace
}  // namespace s3xfs::s3
