// The small XML subset S3 request bodies use (CompleteMultipartUpload, Delete,
// CreateBucketConfiguration, ...), and a writer for responses. Pure code, no I/O.
//
// Parser rules (safe for untrusted input):
// - Elements, attributes (parsed and kept), character data, CDATA, comments, processing
//   instructions and an XML declaration. Namespaces are not interpreted: an element's name is its
//   local name (a "prefix:" is dropped); xmlns attributes are ignored.
// - Only the five predefined entities (&lt; &gt; &amp; &quot; &apos;) and numeric character
//   references (&#N; &#xH;, encoded as UTF-8; 0 and surrogates refused). A DOCTYPE is refused
//   outright, so no entity can be declared or expanded ("billion laughs" cannot happen).
// - Limits: input size (checked before parsing), nesting depth and element count; exceeding one
//   is an error, never a crash or unbounded memory.
// - Malformed input (mismatched tags, text outside the root, bad UTF-8 is passed through
//   as bytes) gives InvalidArgument with a short description.
//
// Thread-safety: pure functions and value types.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "s3xfs/base/status.h"

namespace s3xfs::s3 {

struct XmlElement {
  std::string name;                          // local name
  std::map<std::string, std::string> attributes;
  std::string text;                          // concatenated character data directly inside
  std::vector<XmlElement> children;

  // The first child called `name`, or nullptr.
  const XmlElement* Child(std::string_view name) const;
  // Every child called `name`, in order.
  std::vector<const XmlElement*> Children(std::string_view name) const;
  // Text of the first child called `name`, or `fallback` when absent.
  std::string ChildText(std::string_view name, std::string_view fallback = "") const;
};

struct XmlLimits {
  size_t max_bytes = 1 << 20;   // S3 caps request XML at about 1 MiB (a 1000-key Delete fits)
  size_t max_depth = 16;
  size_t max_elements = 10000;
};

// Parses one document; returns its root element.
Result<XmlElement> ParseXml(std::string_view document, const XmlLimits& limits = {});

// Escapes &, <, >, " and ' for text and attribute values.
std::string XmlEscape(std::string_view text);

// Builds a document: XmlWriter w("ListBucketResult", kS3Namespace); w.Open("Contents");
// w.Element("Key", key); w.Close(); ... std::string body = w.Finish();
class XmlWriter {
 public:
  // Starts the document with the XML declaration and the root element (xmlns when non-empty).
  explicit XmlWriter(std::string_view root, std::string_view xmlns = "");
  void Open(std::string_view name);
  void Close();
  // <name>escaped text</name>
  void Element(std::string_view name, std::string_view text);
  // Closes every open element, including the root, and returns the document.
  std::string Finish();

 private:
  std::string out_;
  std::vector<std::string> open_;
};

inline constexpr std::string_view kS3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/";

}  // namespace s3xfs::s3
