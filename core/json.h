#pragma once
// A small JSON reader and writer: objects, arrays, strings (with every escape, UTF-8
// checked), integers that fit in int64, true, false and null. Floating-point numbers are
// refused: the formats r2g2 reads (the safetensors header) have none.
//
//   json::Value header = json::parse(text);            // throws json::ParseError
//   const json::Value* shape = header.find("shape");   // objects keep their order
//   std::string out = json::Value::object().set("n", json::Value(3)).dump();  // {"n":3}
//
// The reader is strict where leniency would hide corruption: a repeated key in one
// object, trailing content and nesting deeper than kMaxDepth are errors. Every value
// remembers the byte offset where it starts, so callers can point at a bad entry.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "r2g2/core/error.h"

namespace r2g2::json {

// A syntax error, at `offset` bytes into the parsed text.
struct ParseError : Error {
  ParseError(const std::string& why, size_t offset);
  std::string reason;
  size_t offset;
};

constexpr int kMaxDepth = 64;

class Value {
 public:
  enum class Kind { null, boolean, integer, string, array, object };
  struct Member;

  // Defined after Member: a constructor defined here would need ~vector<Member> while
  // Member is still incomplete, which clang rejects.
  Value() = default;  // null
  explicit Value(bool b);
  explicit Value(int64_t i);
  explicit Value(int i);
  explicit Value(std::string s);
  explicit Value(const char* s);
  static Value array();
  static Value object();

  Kind kind() const { return kind_; }
  bool is_string() const { return kind_ == Kind::string; }
  bool is_integer() const { return kind_ == Kind::integer; }
  bool is_array() const { return kind_ == Kind::array; }
  bool is_object() const { return kind_ == Kind::object; }

  // The value itself; each throws naming the kind found when it is another kind.
  bool as_bool() const;
  int64_t as_integer() const;
  const std::string& as_string() const;
  const std::vector<Value>& items() const;     // an array's elements
  const std::vector<Member>& members() const;  // an object's members, in order

  // An object's member named `key`, or null when there is none.
  const Value* find(std::string_view key) const;

  // Building: append to an array, add a member to an object (a repeated key throws).
  Value& push(Value item);
  Value& set(std::string key, Value value);

  // Compact JSON text (no spaces), members in insertion order.
  std::string dump() const;

  // Where this value starts in the text it was parsed from (0 for built values).
  size_t offset() const { return offset_; }

 private:
  friend class Parser;
  static Value with_kind(Kind kind);
  void dump_to(std::string& out) const;

  Kind kind_ = Kind::null;
  int64_t integer_ = 0;
  std::string string_;
  std::vector<Value> items_;
  std::vector<Member> members_;
  size_t offset_ = 0;
};

struct Value::Member {
  std::string key;
  Value value;
};

inline Value::Value(bool b) : kind_(Kind::boolean), integer_(b) {}
inline Value::Value(int64_t i) : kind_(Kind::integer), integer_(i) {}
inline Value::Value(int i) : Value(static_cast<int64_t>(i)) {}
inline Value::Value(std::string s) : kind_(Kind::string), string_(std::move(s)) {}
inline Value::Value(const char* s) : Value(std::string(s)) {}
inline Value Value::with_kind(Kind kind) {
  Value v;
  v.kind_ = kind;
  return v;
}
inline Value Value::array() { return with_kind(Kind::array); }
inline Value Value::object() { return with_kind(Kind::object); }

// Parses exactly one JSON value (surrounded by optional whitespace) from `text`.
Value parse(std::string_view text);

// `s` as a JSON string literal, quotes included. Throws when `s` is not valid UTF-8.
std::string quote(std::string_view s);

// True when `s` is well-formed UTF-8 (no overlong forms, surrogates or values past U+10FFFF).
bool is_valid_utf8(std::string_view s);

const char* kind_name(Value::Kind kind);

}  // namespace r2g2::json
