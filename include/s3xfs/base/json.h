// A small JSON value (admin protocol, snapshot metadata; docs/FORMATS.md): null,
// booleans, 64-bit integers, doubles, strings, arrays and objects whose members keep their
// order. Parse accepts RFC 8259 JSON (UTF-8 passed through, \uXXXX escapes and surrogate pairs
// decoded) with a nesting limit; Dump writes compact JSON on one line (control characters
// escaped), so a dumped value never contains a newline.
//
// Thread-safety: a value is a plain value type; const access from several threads is safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "s3xfs/base/status.h"

namespace s3xfs {

class Json {
 public:
  using Array = std::vector<Json>;
  using Object = std::vector<std::pair<std::string, Json>>;

  Json() = default;  // null
  Json(std::nullptr_t) {}
  Json(bool b) : v_(b) {}
  Json(int v) : v_(int64_t{v}) {}
  Json(unsigned v) : v_(int64_t{v}) {}
  Json(int64_t v) : v_(v) {}
  Json(uint64_t v) : v_(static_cast<int64_t>(v)) {}  // values above INT64_MAX do not occur here
  Json(double v) : v_(v) {}
  Json(const char* s) : v_(std::string(s)) {}
  Json(std::string s) : v_(std::move(s)) {}
  Json(std::string_view s) : v_(std::string(s)) {}
  Json(Array a) : v_(std::move(a)) {}
  static Json MakeObject() { Json j; j.v_ = Object(); return j; }
  static Json MakeArray() { Json j; j.v_ = Array(); return j; }

  // Parses exactly one value (surrounding whitespace allowed). InvalidArgument saying where.
  static Result<Json> Parse(std::string_view text, int max_depth = 32);
  std::string Dump() const;

  bool is_null() const { return v_.index() == 0; }
  bool is_bool() const { return v_.index() == 1; }
  bool is_int() const { return v_.index() == 2; }
  bool is_number() const { return v_.index() == 2 || v_.index() == 3; }
  bool is_string() const { return v_.index() == 4; }
  bool is_array() const { return v_.index() == 5; }
  bool is_object() const { return v_.index() == 6; }

  // Accessors with a fallback when the value has another type.
  bool bool_or(bool d) const { return is_bool() ? std::get<1>(v_) : d; }
  int64_t int_or(int64_t d) const;  // integers, and doubles with an integral value
  double number_or(double d) const;
  const std::string& string_or(const std::string& d) const { return is_string() ? std::get<4>(v_) : d; }
  std::string str() const { return is_string() ? std::get<4>(v_) : std::string(); }
  // REQUIRES: is_array() / is_object().
  const Array& array() const { return std::get<5>(v_); }
  Array& array() { return std::get<5>(v_); }
  const Object& object() const { return std::get<6>(v_); }

  // Object members: the first with this name, or a shared null value when absent (or when this
  // is not an object).
  const Json& operator[](std::string_view name) const;
  bool has(std::string_view name) const;
  // Sets (replacing) a member; turns a null value into an object. Returns *this for chaining.
  // REQUIRES: is_object() or is_null().
  Json& Set(std::string name, Json value);
  // Appends to an array (a null value becomes one). REQUIRES: is_array() or is_null().
  Json& Push(Json value);

  bool operator==(const Json& o) const { return v_ == o.v_; }

 private:
  std::variant<std::monostate, bool, int64_t, double, std::string, Array, Object> v_;
};

}  // namespace s3xfs
