// The JSON reader is a recursive-descent parser over a string_view; depth is bounded so
// that a crafted "[[[[..." cannot exhaust the stack.
#include "r2g2/core/json.h"

#include <charconv>
#include <cstdio>

namespace r2g2::json {

ParseError::ParseError(const std::string& why, size_t at)
    : Error(detail::concat("invalid JSON at byte ", at, ": ", why)), reason(why), offset(at) {}

const char* kind_name(Value::Kind kind) {
  switch (kind) {
    case Value::Kind::null:
      return "null";
    case Value::Kind::boolean:
      return "a boolean";
    case Value::Kind::integer:
      return "an integer";
    case Value::Kind::string:
      return "a string";
    case Value::Kind::array:
      return "an array";
    case Value::Kind::object:
      return "an object";
  }
  return "?";
}

namespace {

void expect_kind(const Value& v, Value::Kind kind) {
  R2G2_CHECK(v.kind() == kind, "json: expected ", kind_name(kind), ", found ", kind_name(v.kind()));
}

// Length of the UTF-8 sequence starting at s[i], or 0 when it is malformed.
size_t utf8_sequence_length(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char lead = byte(i);
  if (lead < 0x80) return 1;
  size_t n;
  uint32_t code;
  if ((lead & 0xE0) == 0xC0)
    n = 2, code = lead & 0x1F;
  else if ((lead & 0xF0) == 0xE0)
    n = 3, code = lead & 0x0F;
  else if ((lead & 0xF8) == 0xF0)
    n = 4, code = lead & 0x07;
  else
    return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    code = (code << 6) | (byte(i + k) & 0x3F);
  }
  constexpr uint32_t kSmallest[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (code < kSmallest[n] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return 0;
  return n;
}

// A byte as it can be shown in a message: printable ASCII quoted, anything else in hex.
std::string shown(char c) {
  const auto byte = static_cast<unsigned char>(c);
  if (byte >= 0x20 && byte < 0x7F) return std::string("'") + c + "'";
  char hex[16];
  std::snprintf(hex, sizeof(hex), "byte 0x%02x", static_cast<unsigned>(byte));
  return hex;
}

void append_utf8(std::string& out, uint32_t code) {
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else if (code < 0x800) {
    out += static_cast<char>(0xC0 | (code >> 6));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else if (code < 0x10000) {
    out += static_cast<char>(0xE0 | (code >> 12));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code >> 18));
    out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  }
}

}  // namespace

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Value document() {
    Value v = value(0);
    skip_space();
    if (pos_ != text_.size()) fail("unexpected content after the value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const { throw ParseError(why, pos_); }
  [[noreturn]] void fail_at(size_t at, const std::string& why) const { throw ParseError(why, at); }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }

  void skip_space() {
    while (!at_end() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }

  void expect(char c) {
    if (at_end()) fail(detail::concat("the text ends where '", c, "' was expected"));
    if (text_[pos_] != c) fail(detail::concat("expected '", c, "', found ", shown(text_[pos_])));
    ++pos_;
  }

  Value value(int depth) {
    skip_space();
    if (at_end()) fail("the text ends where a value was expected");
    const size_t start = pos_;
    Value v;
    const char c = text_[pos_];
    if (c == '{' || c == '[') {
      if (depth >= kMaxDepth) fail(detail::concat("nesting deeper than ", kMaxDepth, " levels"));
      v = c == '{' ? object(depth + 1) : array(depth + 1);
    } else if (c == '"') {
      v = Value(string());
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      v = integer();
    } else if (text_.substr(pos_, 4) == "true") {
      pos_ += 4, v = Value(true);
    } else if (text_.substr(pos_, 5) == "false") {
      pos_ += 5, v = Value(false);
    } else if (text_.substr(pos_, 4) == "null") {
      pos_ += 4;
    } else {
      fail("unexpected character " + shown(c));
    }
    v.offset_ = start;
    return v;
  }

  Value object(int depth) {
    Value v = Value::object();
    expect('{');
    skip_space();
    if (peek() == '}') return ++pos_, v;
    for (;;) {
      skip_space();
      const size_t key_at = pos_;
      if (peek() != '"') fail("expected a quoted member name");
      std::string key = string();
      if (v.find(key) != nullptr) fail_at(key_at, "the key \"" + key + "\" appears twice in one object");
      skip_space();
      expect(':');
      v.members_.push_back({std::move(key), value(depth)});
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      expect('}');
      return v;
    }
  }

  Value array(int depth) {
    Value v = Value::array();
    expect('[');
    skip_space();
    if (peek() == ']') return ++pos_, v;
    for (;;) {
      v.items_.push_back(value(depth));
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      expect(']');
      return v;
    }
  }

  Value integer() {
    const size_t start = pos_;
    if (peek() == '-') ++pos_;
    if (!(peek() >= '0' && peek() <= '9')) fail("a digit must follow '-'");
    if (peek() == '0' && pos_ + 1 < text_.size() && text_[pos_ + 1] >= '0' && text_[pos_ + 1] <= '9')
      fail("a number may not have leading zeros");
    while (peek() >= '0' && peek() <= '9') ++pos_;
    if (peek() == '.' || peek() == 'e' || peek() == 'E')
      fail_at(start, "floating-point numbers are not supported, only integers");
    int64_t n = 0;
    auto [end, ec] = std::from_chars(text_.data() + start, text_.data() + pos_, n);
    if (ec != std::errc() || end != text_.data() + pos_)
      fail_at(start,
              "the integer " + std::string(text_.substr(start, pos_ - start)) + " does not fit in int64");
    return Value(n);
  }

  uint32_t hex4() {
    if (pos_ + 4 > text_.size()) fail("a \\u escape needs four hex digits");
    uint32_t code = 0;
    for (int k = 0; k < 4; ++k) {
      const char h = text_[pos_++];
      code <<= 4;
      if (h >= '0' && h <= '9')
        code |= static_cast<uint32_t>(h - '0');
      else if (h >= 'a' && h <= 'f')
        code |= static_cast<uint32_t>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F')
        code |= static_cast<uint32_t>(h - 'A' + 10);
      else
        fail_at(pos_ - 1, shown(h) + " is not a hex digit in a \\u escape");
    }
    return code;
  }

  std::string string() {
    expect('"');
    std::string out;
    for (;;) {
      if (at_end()) fail("the text ends inside a string");
      const char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (static_cast<unsigned char>(c) < 0x20) fail("a control character must be escaped inside a string");
      if (c != '\\') {
        const size_t n = utf8_sequence_length(text_, pos_);
        if (n == 0) fail("invalid UTF-8 inside a string");
        out.append(text_.substr(pos_, n));
        pos_ += n;
        continue;
      }
      const size_t escape_at = pos_++;
      if (at_end()) fail("the text ends inside an escape");
      switch (text_[pos_++]) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          uint32_t code = hex4();
          if (code >= 0xDC00 && code <= 0xDFFF) fail_at(escape_at, "a lone low surrogate in a \\u escape");
          if (code >= 0xD800 && code <= 0xDBFF) {
            if (text_.substr(pos_, 2) != "\\u") fail_at(escape_at, "a high surrogate without its low half");
            pos_ += 2;
            const uint32_t low = hex4();
            if (low < 0xDC00 || low > 0xDFFF) fail_at(escape_at, "a high surrogate without its low half");
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
          }
          append_utf8(out, code);
          break;
        }
        default:
          fail_at(escape_at, "unknown escape \\ followed by " + shown(text_[pos_ - 1]));
      }
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
};

bool Value::as_bool() const {
  expect_kind(*this, Kind::boolean);
  return integer_ != 0;
}
int64_t Value::as_integer() const {
  expect_kind(*this, Kind::integer);
  return integer_;
}
const std::string& Value::as_string() const {
  expect_kind(*this, Kind::string);
  return string_;
}
const std::vector<Value>& Value::items() const {
  expect_kind(*this, Kind::array);
  return items_;
}
const std::vector<Value::Member>& Value::members() const {
  expect_kind(*this, Kind::object);
  return members_;
}

const Value* Value::find(std::string_view key) const {
  for (const Member& m : members())
    if (m.key == key) return &m.value;
  return nullptr;
}

Value& Value::push(Value item) {
  expect_kind(*this, Kind::array);
  items_.push_back(std::move(item));
  return *this;
}

Value& Value::set(std::string key, Value value) {
  R2G2_CHECK(find(key) == nullptr, "json: the key \"", key, "\" is already in the object");
  members_.push_back({std::move(key), std::move(value)});
  return *this;
}

std::string Value::dump() const {
  std::string out;
  dump_to(out);
  return out;
}

void Value::dump_to(std::string& out) const {
  switch (kind_) {
    case Kind::null:
      out += "null";
      return;
    case Kind::boolean:
      out += integer_ ? "true" : "false";
      return;
    case Kind::integer:
      out += std::to_string(integer_);
      return;
    case Kind::string:
      out += quote(string_);
      return;
    case Kind::array:
      out += '[';
      for (size_t i = 0; i < items_.size(); ++i) {
        if (i) out += ',';
        items_[i].dump_to(out);
      }
      out += ']';
      return;
    case Kind::object:
      out += '{';
      for (size_t i = 0; i < members_.size(); ++i) {
        if (i) out += ',';
        out += quote(members_[i].key);
        out += ':';
        members_[i].value.dump_to(out);
      }
      out += '}';
      return;
  }
}

Value parse(std::string_view text) { return Parser(text).document(); }

bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string quote(std::string_view s) {
  R2G2_CHECK(is_valid_utf8(s), "json: the string \"", s, "\" is not valid UTF-8");
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escape[7];
          std::snprintf(escape, sizeof(escape), "\\u%04x", static_cast<unsigned>(c));
          out += escape;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

}  // namespace r2g2::json
