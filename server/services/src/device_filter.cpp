// SPDX-License-Identifier: Apache-2.0
#include "ota/server/device_filter.h"

#include <cctype>

#include "ota/server/esp_image.h"
#include "ota/server/service_error.h"

namespace ota::server {

namespace {

constexpr size_t kMaxLength = 1000;
constexpr int kMaxDepth = 32;

enum class Tok { kWord, kString, kEq, kNe, kLt, kGt, kOpen, kClose, kEnd };

struct Token {
  Tok kind;
  std::string text;
  size_t at;  // 1-based character position, for messages
};

[[noreturn]] void fail(size_t at, const std::string& why) {
  throw ServiceError(400, "invalid_filter", "filter: at character " + std::to_string(at) + ": " + why);
}

bool word_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == ':' || c == '+' ||
         c == '/' || c == '@' || c == '-';
}

std::vector<Token> tokenize(const std::string& s) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    const size_t at = i + 1;
    if (c == ' ' || c == '\t') {
      ++i;
    } else if (c == '(' || c == ')') {
      out.push_back({c == '(' ? Tok::kOpen : Tok::kClose, std::string(1, c), at});
      ++i;
    } else if (c == '=') {
      out.push_back({Tok::kEq, "=", at});
      ++i;
    } else if (c == '!' && i + 1 < s.size() && s[i + 1] == '=') {
      out.push_back({Tok::kNe, "!=", at});
      i += 2;
    } else if (c == '<' || c == '>') {
      out.push_back({c == '<' ? Tok::kLt : Tok::kGt, std::string(1, c), at});
      ++i;
    } else if (c == '"') {
      std::string v;
      ++i;
      for (;;) {
        if (i >= s.size()) fail(at, "unterminated string");
        if (s[i] == '"') break;
        if (s[i] == '\\') {
          if (i + 1 >= s.size() || (s[i + 1] != '"' && s[i + 1] != '\\')) fail(i + 1, "bad escape (\\\" or \\\\)");
          ++i;
        } else if (static_cast<unsigned char>(s[i]) < 0x20) {
          fail(i + 1, "control character in a string");
        }
        v += s[i++];
      }
      ++i;
      out.push_back({Tok::kString, v, at});
    } else if (word_char(c)) {
      size_t j = i;
      while (j < s.size() && word_char(s[j])) ++j;
      out.push_back({Tok::kWord, s.substr(i, j - i), at});
      i = j;
    } else {
      fail(at, std::string("unexpected '") + (std::isprint(static_cast<unsigned char>(c)) ? std::string(1, c) : "?") +
                   "'");
    }
  }
  out.push_back({Tok::kEnd, "", s.size() + 1});
  return out;
}

}  // namespace

struct DeviceFilter::Node {
  enum Kind { kAnd, kOr, kNot, kField, kSeenWithin, kNotSeenFor } kind;
  std::shared_ptr<const Node> a, b;
  std::string field;  // "product", ..., or "tag.KEY"
  bool negate = false;  // !=
  std::string value;
  std::optional<uint16_t> chip;  // for chip=NAME; nullopt with value "unknown"
  int64_t seconds = 0;
};

namespace {

using Node = DeviceFilter::Node;
using NodePtr = std::shared_ptr<const Node>;

class Parser {
 public:
  Parser(std::vector<Token> t, std::set<std::string>* groups) : t_(std::move(t)), groups_(groups) {}

  NodePtr parse() {
    NodePtr n = parse_or(0);
    if (peek().kind != Tok::kEnd) fail(peek().at, "unexpected '" + peek().text + "' (and, or, ) or the end?)");
    return n;
  }

 private:
  const Token& peek() const { return t_[i_]; }
  Token next() { return t_[i_++]; }
  bool keyword(const char* w) const { return peek().kind == Tok::kWord && peek().text == w; }

  NodePtr parse_or(int depth) {
    NodePtr n = parse_and(depth);
    while (keyword("or")) {
      next();
      auto o = std::make_shared<Node>();
      o->kind = Node::kOr;
      o->a = n;
      o->b = parse_and(depth);
      n = o;
    }
    return n;
  }
  NodePtr parse_and(int depth) {
    NodePtr n = parse_unary(depth);
    while (keyword("and")) {
      next();
      auto o = std::make_shared<Node>();
      o->kind = Node::kAnd;
      o->a = n;
      o->b = parse_unary(depth);
      n = o;
    }
    return n;
  }
  NodePtr parse_unary(int depth) {
    if (depth > kMaxDepth) fail(peek().at, "nested too deeply");
    if (keyword("not")) {
      next();
      auto o = std::make_shared<Node>();
      o->kind = Node::kNot;
      o->a = parse_unary(depth + 1);
      return o;
    }
    if (peek().kind == Tok::kOpen) {
      next();
      NodePtr n = parse_or(depth + 1);
      if (peek().kind != Tok::kClose) fail(peek().at, "expected ')'");
      next();
      return n;
    }
    return parse_compare();
  }
  NodePtr parse_compare() {
    Token field = next();
    if (field.kind != Tok::kWord) fail(field.at, "expected a field (product, chip, version, tag.KEY, ...)");
    if (field.text == "and" || field.text == "or") fail(field.at, "expected a field before '" + field.text + "'");
    auto n = std::make_shared<Node>();
    if (field.text == "last_seen") {
      Token op = next();
      if (op.kind != Tok::kLt && op.kind != Tok::kGt)
        fail(op.at, "last_seen takes < or > and a duration, e.g. last_seen<7d");
      Token d = next();
      n->kind = op.kind == Tok::kLt ? Node::kSeenWithin : Node::kNotSeenFor;
      n->seconds = duration(d);
      return n;
    }
    static const char* const kFields[] = {"product", "chip", "version", "reported_version",
                                          "enabled", "image_known", "group", "state"};
    bool known = field.text.rfind("tag.", 0) == 0 && field.text.size() > 4;
    for (const char* f : kFields) known = known || field.text == f;
    if (!known)
      fail(field.at, "unknown field '" + field.text +
                         "' (product, chip, version, reported_version, enabled, image_known, group, tag.KEY, "
                         "state, last_seen)");
    Token op = next();
    if (op.kind != Tok::kEq && op.kind != Tok::kNe) fail(op.at, "expected = or != after " + field.text);
    Token v = next();
    if (v.kind != Tok::kWord && v.kind != Tok::kString) fail(v.at, "expected a value after " + op.text);
    n->kind = Node::kField;
    n->field = field.text;
    n->negate = op.kind == Tok::kNe;
    n->value = v.text;
    if (n->field == "chip" && n->value != "unknown") {
      n->chip = esp_chip_from_name(n->value);
      if (!n->chip) fail(v.at, "unknown chip '" + n->value + "'");
    }
    if ((n->field == "enabled" || n->field == "image_known") && n->value != "true" && n->value != "false")
      fail(v.at, n->field + " is true or false");
    if (n->field == "group") groups_->insert(n->value);
    if (n->field == "state") {
      static const char* const kStates[] = {"downloading", "applying", "rebooting", "confirmed",
                                            "rolled_back", "failed",   "refused",   "none"};
      bool valid = false;
      for (const char* st : kStates) valid = valid || n->value == st;
      if (!valid)
        fail(v.at, "unknown state '" + n->value +
                       "' (downloading, applying, rebooting, confirmed, rolled_back, failed, refused or none)");
    }
    return n;
  }
  static int64_t duration(const Token& d) {
    if (d.kind != Tok::kWord || d.text.size() < 2) fail(d.at, "expected a duration such as 30m, 12h or 7d");
    const char unit = d.text.back();
    const std::string digits = d.text.substr(0, d.text.size() - 1);
    for (char c : digits)
      if (!std::isdigit(static_cast<unsigned char>(c))) fail(d.at, "expected a duration such as 30m, 12h or 7d");
    if (digits.size() > 9) fail(d.at, "duration too long");
    const int64_t n = std::stoll(digits);
    switch (unit) {
      case 's': return n;
      case 'm': return n * 60;
      case 'h': return n * 3600;
      case 'd': return n * 86400;
      default: fail(d.at, "a duration ends in s, m, h or d");
    }
  }

  std::vector<Token> t_;
  size_t i_ = 0;
  std::set<std::string>* groups_;
};

bool eval(const Node& n, const DeviceFacts& f, int64_t now) {
  const DeviceRecord& d = *f.device;
  switch (n.kind) {
    case Node::kAnd: return eval(*n.a, f, now) && eval(*n.b, f, now);
    case Node::kOr: return eval(*n.a, f, now) || eval(*n.b, f, now);
    case Node::kNot: return !eval(*n.a, f, now);
    case Node::kSeenWithin: return d.last_seen && *d.last_seen >= now - n.seconds;
    case Node::kNotSeenFor: return !d.last_seen || *d.last_seen < now - n.seconds;
    case Node::kField: break;
  }
  bool equal = false;
  if (n.field == "product") {
    equal = d.product == n.value;
  } else if (n.field == "chip") {
    equal = n.chip ? d.chip_id == n.chip : !d.chip_id.has_value();
  } else if (n.field == "version") {
    equal = f.running_version && *f.running_version == n.value;
  } else if (n.field == "reported_version") {
    equal = d.running_version == n.value;
  } else if (n.field == "enabled") {
    equal = d.enabled == (n.value == "true");
  } else if (n.field == "image_known") {
    equal = f.running_version.has_value() == (n.value == "true");
  } else if (n.field == "group") {
    equal = f.groups.count(n.value) > 0;
  } else if (n.field == "state") {
    equal = f.last_state.empty() ? n.value == "none" : f.last_state == n.value;
  } else {  // tag.KEY
    auto it = f.tags.find(n.field.substr(4));
    equal = it != f.tags.end() && it->second == n.value;
  }
  return n.negate ? !equal : equal;
}

}  // namespace

DeviceFilter DeviceFilter::parse(const std::string& text) {
  if (text.size() > kMaxLength) fail(kMaxLength, "a filter is at most 1000 characters");
  DeviceFilter f;
  f.text_ = text;
  Parser p(tokenize(text), &f.groups_named_);
  if (text.find_first_not_of(" \t") == std::string::npos) fail(1, "empty filter");
  f.root_ = p.parse();
  return f;
}

bool DeviceFilter::matches(const DeviceFacts& facts, int64_t now) const {
  return root_ && facts.device && eval(*root_, facts, now);
}

}  // namespace ota::server
