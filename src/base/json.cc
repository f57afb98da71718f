#include "s3xfs/base/json.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace s3xfs {
namespace {

const Json& NullJson() {
  static const Json null;
  return null;
}

class Parser {
 public:
  Parser(std::string_view text, int max_depth) : s_(text), max_depth_(max_depth) {}

  Result<Json> Run() {
    Json v;
    S3XFS_RETURN_IF_ERROR(Value(&v, 0));
    SkipSpace();
    if (pos_ != s_.size()) return Error("unexpected text after the value");
    return v;
  }

 private:
  Status Error(std::string_view what) const {
    return Status::InvalidArgument("bad JSON at byte " + std::to_string(pos_) + ": " +
                                   std::string(what));
  }
  void SkipSpace() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' ||
                                s_[pos_] == '\r'))
      ++pos_;
  }
  bool Literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  Status Value(Json* out, int depth) {
    if (depth > max_depth_) return Error("nested too deeply");
    SkipSpace();
    if (pos_ >= s_.size()) return Error("unexpected end");
    char c = s_[pos_];
    if (c == '{') return ObjectValue(out, depth);
    if (c == '[') return ArrayValue(out, depth);
    if (c == '"') {
      std::string str;
      S3XFS_RETURN_IF_ERROR(String(&str));
      *out = Json(std::move(str));
      return Status::OK();
    }
    if (Literal("true")) { *out = Json(true); return Status::OK(); }
    if (Literal("false")) { *out = Json(false); return Status::OK(); }
    if (Literal("null")) { *out = Json(); return Status::OK(); }
    if (c == '-' || (c >= '0' && c <= '9')) return Number(out);
    return Error("unexpected character");
  }

  Status ObjectValue(Json* out, int depth) {
    ++pos_;  // '{'
    Json obj = Json::MakeObject();
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      *out = std::move(obj);
      return Status::OK();
    }
    for (;;) {
      SkipSpace();
      if (pos_ >= s_.size() || s_[pos_] != '"') return Error("expected a member name");
      std::string name;
      S3XFS_RETURN_IF_ERROR(String(&name));
      SkipSpace();
      if (pos_ >= s_.size() || s_[pos_] != ':') return Error("expected ':'");
      ++pos_;
      Json v;
      S3XFS_RETURN_IF_ERROR(Value(&v, depth + 1));
      if (obj.has(name)) return Error("member \"" + name + "\" given twice");
      obj.Set(std::move(name), std::move(v));
      SkipSpace();
      if (pos_ < s_.size() && s_[pos_] == ',') { ++pos_; continue; }
      if (pos_ < s_.size() && s_[pos_] == '}') { ++pos_; break; }
      return Error("expected ',' or '}'");
    }
    *out = std::move(obj);
    return Status::OK();
  }

  Status ArrayValue(Json* out, int depth) {
    ++pos_;  // '['
    Json arr = Json::MakeArray();
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      *out = std::move(arr);
      return Status::OK();
    }
    for (;;) {
      Json v;
      S3XFS_RETURN_IF_ERROR(Value(&v, depth + 1));
      arr.Push(std::move(v));
      SkipSpace();
      if (pos_ < s_.size() && s_[pos_] == ',') { ++pos_; continue; }
      if (pos_ < s_.size() && s_[pos_] == ']') { ++pos_; break; }
      return Error("expected ',' or ']'");
    }
    *out = std::move(arr);
    return Status::OK();
  }

  Status Hex4(uint32_t* out) {
    if (pos_ + 4 > s_.size()) return Error("short \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<uint32_t>(c - 'A' + 10);
      else return Error("bad \\u escape");
    }
    *out = v;
    return Status::OK();
  }

  static void Utf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else {
      out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    }
  }

  Status String(std::string* out) {
    ++pos_;  // '"'
    for (;;) {
      if (pos_ >= s_.size()) return Error("unterminated string");
      unsigned char c = static_cast<unsigned char>(s_[pos_++]);
      if (c == '"') return Status::OK();
      if (c < 0x20) return Error("control character in a string");
      if (c != '\\') {
        out->push_back(static_cast<char>(c));
        continue;
      }
      if (pos_ >= s_.size()) return Error("unterminated string");
      char e = s_[pos_++];
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          uint32_t cp = 0;
          S3XFS_RETURN_IF_ERROR(Hex4(&cp));
          if (cp >= 0xd800 && cp < 0xdc00) {
            uint32_t lo = 0;
            if (!Literal("\\u")) return Error("lone surrogate");
            S3XFS_RETURN_IF_ERROR(Hex4(&lo));
            if (lo < 0xdc00 || lo >= 0xe000) return Error("bad surrogate pair");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          } else if (cp >= 0xdc00 && cp < 0xe000) {
            return Error("lone surrogate");
          }
          Utf8(cp, out);
          break;
        }
        default: return Error("bad escape");
      }
    }
  }

  Status Number(Json* out) {
    size_t start = pos_;
    if (s_[pos_] == '-') ++pos_;
    auto digits = [&] {
      size_t d = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      return pos_ - d;
    };
    size_t int_start = pos_;
    if (digits() == 0) return Error("bad number");
    if (s_[int_start] == '0' && pos_ - int_start > 1) return Error("leading zero");
    bool integral = true;
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      integral = false;
      if (digits() == 0) return Error("bad number");
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      integral = false;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (digits() == 0) return Error("bad number");
    }
    std::string text(s_.substr(start, pos_ - start));
    if (integral) {
      errno = 0;
      char* end = nullptr;
      long long v = std::strtoll(text.c_str(), &end, 10);
      if (errno == 0) {
        *out = Json(static_cast<int64_t>(v));
        return Status::OK();
      }
    }
    *out = Json(std::strtod(text.c_str(), nullptr));
    return Status::OK();
  }

  std::string_view s_;
  int max_depth_;
  size_t pos_ = 0;
};

void DumpString(const std::string& s, std::string* out) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': *out += "\\\""; break;
      case '\\': *out += "\\\\"; break;
      case '\n': *out += "\\n"; break;
      case '\r': *out += "\\r"; break;
      case '\t': *out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          *out += buf;
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

void DumpTo(const Json& j, std::string* out) {
  if (j.is_null()) {
    *out += "null";
  } else if (j.is_bool()) {
    *out += j.bool_or(false) ? "true" : "false";
  } else if (j.is_int()) {
    *out += std::to_string(j.int_or(0));
  } else if (j.is_number()) {
    double d = j.number_or(0);
    if (!std::isfinite(d)) {
      *out += "null";  // JSON has no NaN or infinity
    } else {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.17g", d);
      *out += buf;
    }
  } else if (j.is_string()) {
    DumpString(j.str(), out);
  } else if (j.is_array()) {
    out->push_back('[');
    bool first = true;
    for (const Json& e : j.array()) {
      if (!first) out->push_back(',');
      first = false;
      DumpTo(e, out);
    }
    out->push_back(']');
  } else {
    out->push_back('{');
    bool first = true;
    for (const auto& [k, v] : j.object()) {
      if (!first) out->push_back(',');
      first = false;
      DumpString(k, out);
      out->push_back(':');
      DumpTo(v, out);
    }
    out->push_back('}');
  }
}

}  // namespace

Result<Json> Json::Parse(std::string_view text, int max_depth) {
  return Parser(text, max_depth).Run();
}

std::string Json::Dump() const {
  std::string out;
  DumpTo(*this, &out);
  return out;
}

int64_t Json::int_or(int64_t d) const {
  if (is_int()) return std::get<2>(v_);
  if (v_.index() == 3) {
    double v = std::get<3>(v_);
    if (std::isfinite(v) && v == std::floor(v) && v >= -9.2e18 && v <= 9.2e18)
      return static_cast<int64_t>(v);
  }
  return d;
}

double Json::number_or(double d) const {
  if (is_int()) return static_cast<double>(std::get<2>(v_));
  if (v_.index() == 3) return std::get<3>(v_);
  return d;
}

const Json& Json::operator[](std::string_view name) const {
  if (!is_object()) return NullJson();
  for (const auto& [k, v] : std::get<6>(v_)) {
    if (k == name) return v;
  }
  return NullJson();
}

bool Json::has(std::string_view name) const {
  if (!is_object()) return false;
  for (const auto& [k, v] : std::get<6>(v_)) {
    if (k == name) return true;
  }
  return false;
}

Json& Json::Set(std::string name, Json value) {
  if (is_null()) v_ = Object();
  auto& obj = std::get<6>(v_);
  for (auto& [k, v] : obj) {
    if (k == name) {
      v = std::move(value);
      return *this;
    }
  }
  obj.emplace_back(std::move(name), std::move(value));
  return *this;
}

Json& Json::Push(Json value) {
  if (is_null()) v_ = Array();
  std::get<5>(v_).push_back(std::move(value));
  return *this;
}

}  // namespace s3xfs
