#include "s3xfs/s3/http.h"

#include <algorithm>

namespace s3xfs::s3 {
namespace {

char ToLowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

void HeaderList::Add(std::string_view name, std::string_view value) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), ToLowerAscii);
  fields.emplace_back(std::move(lower), std::string(value));
}

const std::string* HeaderList::Find(std::string_view lower_name) const {
  for (const auto& [name, value] : fields) {
    if (name == lower_name) return &value;
  }
  return nullptr;
}

std::string HeaderList::Joined(std::string_view lower_name) const {
  std::string out;
  bool first = true;
  for (const auto& [name, value] : fields) {
    if (name != lower_name) continue;
    if (!first) out += ',';
    out += value;
    first = false;
  }
  return out;
}

SplitTarget SplitRequestTarget(std::string_view target) {
  size_t q = target.find('?');
  if (q == std::string_view::npos) return {std::string(target), ""};
  return {std::string(target.substr(0, q)), std::string(target.substr(q + 1))};
}

bool PercentDecode(std::string_view text, std::string* out, bool plus_is_space) {
  out->clear();
  out->reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return false;
      int hi = HexValue(text[i + 1]);
      int lo = HexValue(text[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(char(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return true;
}

std::string UriEncode(std::string_view text, bool encode_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3 / 2);
  for (unsigned char c : text) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved || (c == '/' && !encode_slash)) {
      out.push_back(char(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

Result<std::vector<QueryParam>> ParseQuery(std::string_view raw_query) {
  std::vector<QueryParam> params;
  size_t pos = 0;
  while (pos <= raw_query.size() && !raw_query.empty()) {
    size_t amp = raw_query.find('&', pos);
    if (amp == std::string_view::npos) amp = raw_query.size();
    std::string_view part = raw_query.substr(pos, amp - pos);
    if (!part.empty()) {
      QueryParam p;
      size_t eq = part.find('=');
      std::string_view name = part.substr(0, eq);
      if (!PercentDecode(name, &p.name, true)) {
        return Status::InvalidArgument("malformed percent escape in query parameter name");
      }
      if (eq != std::string_view::npos) {
        p.has_value = true;
        if (!PercentDecode(part.substr(eq + 1), &p.value, true)) {
          return Status::InvalidArgument("malformed percent escape in query parameter " + p.name);
        }
      }
      params.push_back(std::move(p));
    }
    if (amp == raw_query.size()) break;
    pos = amp + 1;
  }
  return params;
}

Result<std::optional<ByteRange>> ParseByteRange(std::string_view value, uint64_t size) {
  if (value.substr(0, 6) != "bytes=") return std::optional<ByteRange>();
  value.remove_prefix(6);
  if (value.find(',') != std::string_view::npos) return std::optional<ByteRange>();
  size_t dash = value.find('-');
  if (dash == std::string_view::npos) return std::optional<ByteRange>();
  auto num = [](std::string_view s, uint64_t* out) {
    if (s.empty() || s.size() > 19) return false;
    uint64_t v = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + uint64_t(c - '0');
    }
    *out = v;
    return true;
  };
  std::string_view a = value.substr(0, dash), b = value.substr(dash + 1);
  uint64_t first = 0, last = 0;
  auto unsatisfiable = [&] {
    return Status::InvalidArgument("The requested range is not satisfiable").With(Status::Reason::kInvalidRange);
  };
  if (a.empty()) {  // suffix: last n bytes
    uint64_t n = 0;
    if (!num(b, &n)) return std::optional<ByteRange>();
    if (n == 0 || size == 0) return unsatisfiable();
    n = std::min(n, size);
    return std::optional<ByteRange>(ByteRange{size - n, n});
  }
  if (!num(a, &first)) return std::optional<ByteRange>();
  if (b.empty()) {
    last = size == 0 ? 0 : size - 1;
  } else {
    if (!num(b, &last) || last < first) return std::optional<ByteRange>();
    if (size > 0) last = std::min(last, size - 1);
  }
  if (first >= size) return unsatisfiable();
  return std::optional<ByteRange>(ByteRange{first, last - first + 1});
}

std::string ContentRange(uint64_t first, uint64_t length, uint64_t size) {
  return "bytes " + std::to_string(first) + "-" + std::to_string(first + length - 1) + "/" +
         std::to_string(size);
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string Unquoted(std::string_view etag) {
  if (etag.substr(0, 2) == "W/") etag.remove_prefix(2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
  return std::string(etag);
}

bool EtagListMatches(std::string_view list, std::string_view etag) {
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    if (comma == std::string_view::npos) comma = list.size();
    std::string_view item = TrimOws(list.substr(pos, comma - pos));
    if (item == "*" || Unquoted(item) == etag) return true;
    pos = comma + 1;
  }
  return false;
}

}  // namespace s3xfs::s3
