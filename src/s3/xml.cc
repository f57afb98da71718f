// A small, iterative XML parser for S3 request bodies and a writer for responses.
//
// The parser never recurses: open elements live on an explicit stack whose height is checked
// against XmlLimits::max_depth before each push, and every loop advances through the input, so
// time is linear and memory is bounded by a small multiple of the (size-limited) input.
#include "s3xfs/s3/xml.h"

#include <cstdint>
#include <utility>

namespace s3xfs::s3 {

// ---- XmlElement -----------------------------------------------------------------------------

const XmlElement* XmlElement::Child(std::string_view child_name) const {
  for (const XmlElement& c : children) {
    if (c.name == child_name) return &c;
  }
  return nullptr;
}

std::vector<const XmlElement*> XmlElement::Children(std::string_view child_name) const {
  std::vector<const XmlElement*> out;
  for (const XmlElement& c : children) {
    if (c.name == child_name) out.push_back(&c);
  }
  return out;
}

std::string XmlElement::ChildText(std::string_view child_name, std::string_view fallback) const {
  const XmlElement* c = Child(child_name);
  return c != nullptr ? c->text : std::string(fallback);
}

// ---- Parser ---------------------------------------------------------------------------------

namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// XML names, simplified: ASCII letters, '_' and ':' start a name, digits, '-' and '.' may
// follow; every byte >= 0x80 is accepted (non-ASCII name characters, not validated).
bool IsNameStart(char c) {
  return IsAsciiLetter(c) || c == '_' || c == ':' || static_cast<unsigned char>(c) >= 0x80;
}
bool IsNameChar(char c) {
  return IsNameStart(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// The local part of a qualified name: everything after the first ':'. Empty when the name is
// not a valid QName (empty prefix or local part, or a second ':').
std::string_view LocalName(std::string_view qname) {
  size_t colon = qname.find(':');
  if (colon == std::string_view::npos) return qname;
  if (colon == 0) return {};
  std::string_view local = qname.substr(colon + 1);
  if (local.empty() || local.find(':') != std::string_view::npos) return {};
  if (!IsNameStart(local[0])) return {};
  return local;
}

class Parser {
 public:
  Parser(std::string_view doc, const XmlLimits& limits) : doc_(doc), limits_(limits) {}

  Result<XmlElement> Parse() {
    // An optional UTF-8 byte order mark.
    if (doc_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
    // The XML declaration, only at the very start.
    if (Lookahead("<?xml") && pos_ + 5 < doc_.size() &&
        (IsSpace(doc_[pos_ + 5]) || doc_[pos_ + 5] == '?')) {
      S3XFS_RETURN_IF_ERROR(SkipPi(/*declaration_allowed=*/true));
    }
    // Prolog: comments, processing instructions and white space before the root.
    S3XFS_RETURN_IF_ERROR(SkipMisc());
    if (AtEnd()) return Error("no root element");
    if (Lookahead("<!DOCTYPE")) return Error("DOCTYPE is not allowed");
    if (doc_[pos_] != '<') return Error("text before the root element");

    XmlElement root;
    S3XFS_RETURN_IF_ERROR(ParseElementTree(&root));

    // Epilog: only comments, processing instructions and white space.
    S3XFS_RETURN_IF_ERROR(SkipMisc());
    if (!AtEnd()) {
      if (Lookahead("<!DOCTYPE")) return Error("DOCTYPE is not allowed");
      if (doc_[pos_] == '<') return Error("more than one root element");
      return Error("text after the root element");
    }
    return root;
  }

 private:
  bool AtEnd() const { return pos_ >= doc_.size(); }
  bool Lookahead(std::string_view s) const { return doc_.substr(pos_, s.size()) == s; }

  Status Error(std::string_view what) const {
    std::string msg = "malformed XML: ";
    msg += what;
    msg += " at offset ";
    msg += std::to_string(pos_);
    return Status::InvalidArgument(std::move(msg)).With(Status::Reason::kMalformedXml);
  }

  void SkipSpace() {
    while (!AtEnd() && IsSpace(doc_[pos_])) ++pos_;
  }

  // Comments, PIs and white space (prolog and epilog). Stops at anything else.
  Status SkipMisc() {
    for (;;) {
      SkipSpace();
      if (Lookahead("<!--")) {
        S3XFS_RETURN_IF_ERROR(SkipComment());
      } else if (Lookahead("<?")) {
        S3XFS_RETURN_IF_ERROR(SkipPi(/*declaration_allowed=*/false));
      } else {
        return Status::OK();
      }
    }
  }

  // At "<!--": skips to after "-->"; "--" inside a comment is malformed.
  Status SkipComment() {
    pos_ += 4;
    size_t dashes = doc_.find("--", pos_);
    if (dashes == std::string_view::npos) return Error("unterminated comment");
    if (dashes + 2 >= doc_.size() || doc_[dashes + 2] != '>') {
      pos_ = dashes;
      return Error("'--' inside a comment");
    }
    pos_ = dashes + 3;
    return Status::OK();
  }

  // At "<?": skips a processing instruction. Its target must be a name and not "xml" (in any
  // case) unless this is the declaration at the start of the document.
  Status SkipPi(bool declaration_allowed) {
    pos_ += 2;
    size_t start = pos_;
    if (AtEnd() || !IsNameStart(doc_[pos_])) return Error("bad processing instruction target");
    while (!AtEnd() && IsNameChar(doc_[pos_])) ++pos_;
    std::string_view target = doc_.substr(start, pos_ - start);
    bool is_xml = target.size() == 3 && (target[0] | 0x20) == 'x' && (target[1] | 0x20) == 'm' &&
                  (target[2] | 0x20) == 'l';
    if (is_xml && !(declaration_allowed && target == "xml")) {
      pos_ = start;
      return Error("XML declaration not at the start of the document");
    }
    if (!AtEnd() && !IsSpace(doc_[pos_]) && !Lookahead("?>")) {
      return Error("bad processing instruction target");
    }
    size_t end = doc_.find("?>", pos_);
    if (end == std::string_view::npos) return Error("unterminated processing instruction");
    pos_ = end + 2;
    return Status::OK();
  }

  // A name at pos_; empty when there is none.
  std::string_view ReadName() {
    size_t start = pos_;
    if (AtEnd() || !IsNameStart(doc_[pos_])) return {};
    while (!AtEnd() && IsNameChar(doc_[pos_])) ++pos_;
    return doc_.substr(start, pos_ - start);
  }

  // At '&': appends the referenced character(s) to *out and moves past the ';'.
  Status ReadReference(std::string* out) {
    size_t start = pos_;
    ++pos_;  // '&'
    if (!AtEnd() && doc_[pos_] == '#') {
      ++pos_;
      bool hex = false;
      if (!AtEnd() && doc_[pos_] == 'x') {
        hex = true;
        ++pos_;
      }
      uint32_t cp = 0;
      size_t digits = 0;
      while (!AtEnd() && doc_[pos_] != ';') {
        char c = doc_[pos_];
        int d;
        if (c >= '0' && c <= '9') {
          d = c - '0';
        } else if (hex && c >= 'a' && c <= 'f') {
          d = c - 'a' + 10;
        } else if (hex && c >= 'A' && c <= 'F') {
          d = c - 'A' + 10;
        } else {
          pos_ = start;
          return Error("bad character reference");
        }
        cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(d);
        if (cp > 0x10FFFF) {
          pos_ = start;
          return Error("character reference out of range");
        }
        ++digits;
        ++pos_;
      }
      if (AtEnd() || digits == 0) {
        pos_ = start;
        return Error("bad character reference");
      }
      if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF)) {
        pos_ = start;
        return Error("character reference to a character XML does not allow");
      }
      ++pos_;  // ';'
      AppendUtf8(cp, out);
      return Status::OK();
    }
    std::string_view name = ReadName();
    if (AtEnd() || doc_[pos_] != ';' || name.empty()) {
      pos_ = start;
      return Error("bad entity reference");
    }
    ++pos_;  // ';'
    if (name == "lt") {
      out->push_back('<');
    } else if (name == "gt") {
      out->push_back('>');
    } else if (name == "amp") {
      out->push_back('&');
    } else if (name == "quot") {
      out->push_back('"');
    } else if (name == "apos") {
      out->push_back('\'');
    } else {
      pos_ = start;
      return Error("undefined entity");
    }
    return Status::OK();
  }

  // Appends literal document bytes [from, to) to *out with line ends normalized (CR LF and a
  // lone CR become LF), as XML requires of every parser.
  void AppendLiteral(size_t from, size_t to, std::string* out) const {
    while (from < to) {
      size_t cr = doc_.find('\r', from);
      if (cr == std::string_view::npos || cr >= to) {
        out->append(doc_.data() + from, to - from);
        return;
      }
      out->append(doc_.data() + from, cr - from);
      out->push_back('\n');
      from = cr + 1;
      if (from < to && doc_[from] == '\n') ++from;
    }
  }

  // At the opening quote of an attribute value: reads it with references replaced and white
  // space characters normalized to spaces.
  Status ReadAttributeValue(std::string* out) {
    char quote = doc_[pos_];
    ++pos_;
    for (;;) {
      if (AtEnd()) return Error("unterminated attribute value");
      char c = doc_[pos_];
      if (c == quote) {
        ++pos_;
        return Status::OK();
      }
      if (c == '<') return Error("'<' in an attribute value");
      if (c == '\0') return Error("NUL character");
      if (c == '&') {
        S3XFS_RETURN_IF_ERROR(ReadReference(out));
        continue;
      }
      if (c == '\r') {
        out->push_back(' ');
        ++pos_;
        if (!AtEnd() && doc_[pos_] == '\n') ++pos_;
        continue;
      }
      out->push_back(c == '\t' || c == '\n' ? ' ' : c);
      ++pos_;
    }
  }

  // At '<' of a start tag: pushes a new element (checking the limits first). Sets *empty for
  // "<name/>".
  Status ReadStartTag(std::vector<XmlElement>* stack, std::vector<std::string_view>* qnames,
                      bool* empty) {
    if (stack->size() >= limits_.max_depth) return Error("elements nested too deeply");
    if (elements_ >= limits_.max_elements) return Error("too many elements");
    ++elements_;
    ++pos_;  // '<'
    std::string_view qname = ReadName();
    if (qname.empty()) return Error("bad element name");
    std::string_view local = LocalName(qname);
    if (local.empty()) return Error("bad element name");

    XmlElement element;
    element.name = std::string(local);
    for (;;) {
      size_t before_space = pos_;
      SkipSpace();
      if (AtEnd()) return Error("unterminated start tag");
      if (doc_[pos_] == '>') {
        ++pos_;
        *empty = false;
        break;
      }
      if (Lookahead("/>")) {
        pos_ += 2;
        *empty = true;
        break;
      }
      if (pos_ == before_space) return Error("expected white space before an attribute");
      std::string_view attr_qname = ReadName();
      if (attr_qname.empty()) return Error("bad attribute name");
      SkipSpace();
      if (AtEnd() || doc_[pos_] != '=') return Error("expected '=' after an attribute name");
      ++pos_;
      SkipSpace();
      if (AtEnd() || (doc_[pos_] != '"' && doc_[pos_] != '\'')) {
        return Error("attribute value not quoted");
      }
      std::string value;
      S3XFS_RETURN_IF_ERROR(ReadAttributeValue(&value));
      if (attr_qname == "xmlns" || attr_qname.substr(0, 6) == "xmlns:") continue;
      std::string_view attr_local = LocalName(attr_qname);
      if (attr_local.empty()) return Error("bad attribute name");
      auto [it, inserted] = element.attributes.emplace(std::string(attr_local), std::move(value));
      if (!inserted) return Error("duplicate attribute");
    }
    stack->push_back(std::move(element));
    qnames->push_back(qname);
    return Status::OK();
  }

  // At "</": pops the innermost element after checking the name matches.
  Status ReadEndTag(std::vector<std::string_view>* qnames) {
    size_t start = pos_;
    pos_ += 2;
    std::string_view qname = ReadName();
    if (qname.empty()) return Error("bad end tag");
    SkipSpace();
    if (AtEnd() || doc_[pos_] != '>') return Error("unterminated end tag");
    if (qname != qnames->back()) {
      pos_ = start;
      return Error("end tag does not match the start tag");
    }
    ++pos_;
    qnames->pop_back();
    return Status::OK();
  }

  // At '<' of the root's start tag: parses the whole element tree into *root.
  Status ParseElementTree(XmlElement* root) {
    std::vector<XmlElement> stack;          // open elements, innermost last
    std::vector<std::string_view> qnames;  // their names as written, for end-tag matching
    bool empty = false;
    S3XFS_RETURN_IF_ERROR(ReadStartTag(&stack, &qnames, &empty));
    if (empty) {
      *root = std::move(stack.back());
      return Status::OK();
    }
    for (;;) {
      if (AtEnd()) return Error("unexpected end of document inside an element");
      char c = doc_[pos_];
      std::string& text = stack.back().text;
      if (c == '<') {
        if (Lookahead("</")) {
          S3XFS_RETURN_IF_ERROR(ReadEndTag(&qnames));
          XmlElement done = std::move(stack.back());
          stack.pop_back();
          if (stack.empty()) {
            *root = std::move(done);
            return Status::OK();
          }
          stack.back().children.push_back(std::move(done));
        } else if (Lookahead("<!--")) {
          S3XFS_RETURN_IF_ERROR(SkipComment());
        } else if (Lookahead("<![CDATA[")) {
          pos_ += 9;
          size_t end = doc_.find("]]>", pos_);
          if (end == std::string_view::npos) return Error("unterminated CDATA section");
          if (doc_.substr(pos_, end - pos_).find('\0') != std::string_view::npos) {
            return Error("NUL character");
          }
          AppendLiteral(pos_, end, &text);
          pos_ = end + 3;
        } else if (Lookahead("<?")) {
          S3XFS_RETURN_IF_ERROR(SkipPi(/*declaration_allowed=*/false));
        } else if (Lookahead("<!")) {
          return Error("markup declaration inside an element");
        } else {
          S3XFS_RETURN_IF_ERROR(ReadStartTag(&stack, &qnames, &empty));
          if (empty) {
            XmlElement done = std::move(stack.back());
            stack.pop_back();
            qnames.pop_back();
            stack.back().children.push_back(std::move(done));
          }
        }
      } else if (c == '&') {
        S3XFS_RETURN_IF_ERROR(ReadReference(&text));
      } else {
        // A run of character data up to the next markup or reference.
        size_t start = pos_;
        while (!AtEnd() && doc_[pos_] != '<' && doc_[pos_] != '&') {
          if (doc_[pos_] == '\0') return Error("NUL character");
          if (doc_[pos_] == '>' && pos_ >= start + 2 && doc_[pos_ - 1] == ']' &&
              doc_[pos_ - 2] == ']') {
            return Error("']]>' in character data");
          }
          ++pos_;
        }
        AppendLiteral(start, pos_, &text);
      }
    }
  }

  std::string_view doc_;
  const XmlLimits& limits_;
  size_t pos_ = 0;
  size_t elements_ = 0;
};

}  // namespace

Result<XmlElement> ParseXml(std::string_view document, const XmlLimits& limits) {
  if (document.size() > limits.max_bytes) {
    return Status::InvalidArgument("XML document of " + std::to_string(document.size()) +
                                   " bytes is over the limit of " +
                                   std::to_string(limits.max_bytes))
        .With(Status::Reason::kMalformedXml);
  }
  return Parser(document, limits).Parse();
}

// ---- Writer ---------------------------------------------------------------------------------

std::string XmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      // A literal CR would come back as LF from any XML parser (line-end normalization).
      case '\r': out += "&#13;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

XmlWriter::XmlWriter(std::string_view root, std::string_view xmlns) {
  out_ = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<";
  out_ += root;
  if (!xmlns.empty()) {
    out_ += " xmlns=\"";
    out_ += XmlEscape(xmlns);
    out_ += '"';
  }
  out_ += '>';
  open_.emplace_back(root);
}

void XmlWriter::Open(std::string_view name) {
  out_ += '<';
  out_ += name;
  out_ += '>';
  open_.emplace_back(name);
}

void XmlWriter::Close() {
  if (open_.empty()) return;
  out_ += "</";
  out_ += open_.back();
  out_ += '>';
  open_.pop_back();
}

void XmlWriter::Element(std::string_view name, std::string_view text) {
  out_ += '<';
  out_ += name;
  out_ += '>';
  out_ += XmlEscape(text);
  out_ += "</";
  out_ += name;
  out_ += '>';
}

std::string XmlWriter::Finish() {
  while (!open_.empty()) Close();
  return std::move(out_);
}

}  // namespace s3xfs::s3
