// The device's JSON scanner: the server's two answer shapes, whitespace,
// escapes, nested members skipped, and malformed documents refused at every
// byte (truncation, bad escapes, trailing garbage, numbers that are not
// non-negative integers, depth).
#include "ota/json_scan.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace ota {
namespace {

Status get_string(const std::string& doc, const char* key, std::string* out, size_t cap = 256) {
  std::vector<char> buf(cap + 1, '#');
  size_t n = 12345;
  const Status st = json_get_string(doc.data(), doc.size(), key, buf.data(), cap, &n);
  if (st == kStatusOk) {
    EXPECT_EQ(buf[n], '\0');
    EXPECT_LT(n, cap);
    *out = std::string(buf.data(), n);
  } else {
    EXPECT_EQ(n, 0u);
    EXPECT_EQ(buf[0], '\0');
  }
  EXPECT_EQ(buf[cap], '#') << "wrote past cap";
  return st;
}

std::string str(const std::string& doc, const char* key) {
  std::string s;
  EXPECT_EQ(get_string(doc, key, &s), kStatusOk) << key << " in " << doc;
  return s;
}

Status get_bool(const std::string& doc, const char* key, bool* out) {
  return json_get_bool(doc.data(), doc.size(), key, out);
}
Status get_u64(const std::string& doc, const char* key, uint64_t* out) {
  return json_get_u64(doc.data(), doc.size(), key, out);
}

// True when no getter accepts `doc` for `key`.
bool refused(const std::string& doc, const char* key) {
  std::string s;
  bool b = true;
  uint64_t u = 7;
  return get_string(doc, key, &s) == kStatusBadResponse && get_bool(doc, key, &b) == kStatusBadResponse &&
         get_u64(doc, key, &u) == kStatusBadResponse && !b && u == 0;
}

const std::string kCheckIn =
    R"({"update":true,"manifest":"4f54415f4d414e49464553540001","target_version":"1.0.1",)"
    R"("delta":true,"size":12345,"download_url":"/api/v1/devices/d1/releases/ab12"})";

const std::string kOriginal =
    R"({"update_available":true,"old_version":"1.0.0","new_version":"1.0.1",)"
    R"("patch_url":"/get_patch/1.0.0/1.0.1/esp32_01","signature_url":"/get_signature/1.0.0/1.0.1"})";

TEST(device_util_json_scan, CheckInAnswer) {
  bool b = false;
  uint64_t u = 0;
  ASSERT_EQ(get_bool(kCheckIn, "update", &b), kStatusOk);
  EXPECT_TRUE(b);
  ASSERT_EQ(get_bool(kCheckIn, "delta", &b), kStatusOk);
  EXPECT_TRUE(b);
  EXPECT_EQ(str(kCheckIn, "manifest"), "4f54415f4d414e49464553540001");
  EXPECT_EQ(str(kCheckIn, "target_version"), "1.0.1");
  ASSERT_EQ(get_u64(kCheckIn, "size", &u), kStatusOk);
  EXPECT_EQ(u, 12345u);
  EXPECT_EQ(str(kCheckIn, "download_url"), "/api/v1/devices/d1/releases/ab12");
  // Missing members and wrong types.
  std::string s;
  EXPECT_EQ(get_string(kCheckIn, "missing", &s), kStatusBadResponse);
  EXPECT_EQ(get_string(kCheckIn, "size", &s), kStatusBadResponse);
  EXPECT_EQ(get_string(kCheckIn, "update", &s), kStatusBadResponse);
  EXPECT_EQ(get_bool(kCheckIn, "size", &b), kStatusBadResponse);
  EXPECT_EQ(get_bool(kCheckIn, "target_version", &b), kStatusBadResponse);
  EXPECT_EQ(get_u64(kCheckIn, "target_version", &u), kStatusBadResponse);
  EXPECT_EQ(get_u64(kCheckIn, "update", &u), kStatusBadResponse);
  // Keys are matched whole and case-sensitively.
  EXPECT_EQ(get_bool(kCheckIn, "updat", &b), kStatusBadResponse);
  EXPECT_EQ(get_bool(kCheckIn, "update_", &b), kStatusBadResponse);
  EXPECT_EQ(get_bool(kCheckIn, "Update", &b), kStatusBadResponse);
  EXPECT_EQ(get_bool(kCheckIn, "", &b), kStatusBadResponse);
}

TEST(device_util_json_scan, OriginalAnswer) {
  bool b = false;
  ASSERT_EQ(get_bool(kOriginal, "update_available", &b), kStatusOk);
  EXPECT_TRUE(b);
  EXPECT_EQ(str(kOriginal, "old_version"), "1.0.0");
  EXPECT_EQ(str(kOriginal, "new_version"), "1.0.1");
  EXPECT_EQ(str(kOriginal, "patch_url"), "/get_patch/1.0.0/1.0.1/esp32_01");
  EXPECT_EQ(str(kOriginal, "signature_url"), "/get_signature/1.0.0/1.0.1");
  const std::string none = R"({"update_available":false})";
  b = true;
  ASSERT_EQ(get_bool(none, "update_available", &b), kStatusOk);
  EXPECT_FALSE(b);
}

TEST(device_util_json_scan, Whitespace) {
  const std::string doc =
      " \r\n\t{ \n \"a\" \t:\r\n \"x y\" ,\"n\"  :  42\n,\n\"t\":false , \"arr\" : [ 1 , 2 ] ,"
      " \"o\" : { } , \"e\" : [ ] } \n\r\t ";
  EXPECT_EQ(str(doc, "a"), "x y");
  uint64_t u = 0;
  ASSERT_EQ(get_u64(doc, "n", &u), kStatusOk);
  EXPECT_EQ(u, 42u);
  bool b = true;
  ASSERT_EQ(get_bool(doc, "t", &b), kStatusOk);
  EXPECT_FALSE(b);
  EXPECT_TRUE(refused(doc, "arr"));  // not a scalar
  EXPECT_TRUE(refused(doc, "o"));
  EXPECT_TRUE(refused(doc, "e"));
  // Whitespace that JSON does not allow.
  EXPECT_TRUE(refused("{\"n\":\v1}", "n"));
  EXPECT_TRUE(refused("{\"n\":\f1}", "n"));
  EXPECT_TRUE(refused(std::string("{\"n\":1}\0", 8), "n"));
  EXPECT_TRUE(refused("\xEF\xBB\xBF{\"n\":1}", "n"));  // no byte-order mark
}

TEST(device_util_json_scan, Escapes) {
  const std::string doc =
      R"({"s":"a\"b\\c\/d\ne\tf\rg\bh\fi\u0041\u007a\u007F","k\u0065y":"v","u":"\u00e9",)"
      R"("raw":"caf)" "\xC3\xA9" R"(","pair":"\ud83d\ude00","emoji":")" "\xF0\x9F\x98\x80" R"(",)"
      R"("nul":"a\u0000b","ctl":"\u001f"})";
  EXPECT_EQ(str(doc, "s"), "a\"b\\c/d\ne\tf\rg\bh\fiAz\x7f");
  EXPECT_EQ(str(doc, "key"), "v");  // the key is unescaped before matching
  std::string s;
  EXPECT_EQ(get_string(doc, "u", &s), kStatusBadResponse);     // not ASCII
  EXPECT_EQ(get_string(doc, "raw", &s), kStatusBadResponse);   // valid UTF-8, not ASCII
  EXPECT_EQ(get_string(doc, "pair", &s), kStatusBadResponse);
  EXPECT_EQ(get_string(doc, "emoji", &s), kStatusBadResponse);
  EXPECT_EQ(get_string(doc, "nul", &s), kStatusBadResponse);   // would truncate the C string
  EXPECT_EQ(str(doc, "ctl"), "\x1f");
  // Keys with escapes of non-ASCII characters never match an ASCII key.
  EXPECT_EQ(get_string(R"({"\u00e9":"x"})", "e", &s), kStatusBadResponse);
  EXPECT_EQ(get_string(R"({"\u00e9":"x","e":"y"})", "e", &s), kStatusOk);
  EXPECT_EQ(s, "y");
}

TEST(device_util_json_scan, BadEscapesAndStrings) {
  const char* bad[] = {
      R"({"a":"\x"})",        R"({"a":"\'"})",        R"({"a":"\u12G4"})",
      R"({"a":"\u12"})",      R"({"a":"\u"})",        R"({"a":"\"})",
      R"({"a":"\U0041"})",    R"({"a":"\ud83d"})",    R"({"a":"\ud83dx"})",
      R"({"a":"\ud83d\u0041"})", R"({"a":"\ude00"})", R"({"a":"\ud83d\ud83d"})",
      "{\"a\":\"tab\there\"}", "{\"a\":\"line\nbreak\"}", "{\"a\":\"\x01\"}",
      "{\"a\":\"\x80\"}",     "{\"a\":\"\xC3\"}",     "{\"a\":\"\xC3(\"}",
      "{\"a\":\"\xC0\xAF\"}", "{\"a\":\"\xE0\x80\xAF\"}", "{\"a\":\"\xED\xA0\x80\"}",
      "{\"a\":\"\xF4\x90\x80\x80\"}", "{\"a\":\"\xF8\x88\x80\x80\x80\"}", "{\"a\":\"\xFF\"}",
      R"({"a":'x'})",         R"({'a':"x"})",         R"({a:"x"})",
      R"({"a":"x)",           R"({"a\":"x"})",
  };
  for (const char* doc : bad) {
    SCOPED_TRACE(doc);
    EXPECT_TRUE(refused(doc, "a"));
    // The whole document is refused, whichever key is asked for.
    EXPECT_TRUE(refused(std::string(doc).insert(1, "\"ok\":1,"), "ok"));
  }
}

TEST(device_util_json_scan, NestedValuesAreSkipped) {
  const std::string doc =
      R"({"meta":{"size":1,"list":[1,{"size":2},[[],{}],"]}",true,null,-1.5e3],"s":"}"},)"
      R"("arr":[{"size":4}],"size":3,"after":"x]}"})";
  uint64_t u = 0;
  ASSERT_EQ(get_u64(doc, "size", &u), kStatusOk);
  EXPECT_EQ(u, 3u);
  EXPECT_EQ(str(doc, "after"), "x]}");
  EXPECT_TRUE(refused(doc, "list"));  // only in a nested object
  EXPECT_TRUE(refused(doc, "s"));
  EXPECT_TRUE(refused(doc, "meta"));  // an object, not a scalar
  // A member only inside a nested object is missing at the top level.
  EXPECT_TRUE(refused(R"({"a":{"b":1}})", "b"));
  EXPECT_TRUE(refused(R"({"a":[{"b":1}]})", "b"));
}

TEST(device_util_json_scan, NullValueAndScalarsOfEveryType) {
  const std::string doc = R"({"n":null,"f":-0.5,"e":1e9,"z":0,"neg":-3})";
  EXPECT_TRUE(refused(doc, "n"));
  EXPECT_TRUE(refused(doc, "f"));
  EXPECT_TRUE(refused(doc, "e"));
  EXPECT_TRUE(refused(doc, "neg"));
  uint64_t u = 9;
  ASSERT_EQ(get_u64(doc, "z", &u), kStatusOk);
  EXPECT_EQ(u, 0u);
}

TEST(device_util_json_scan, DuplicateKeysFirstWins) {
  const std::string doc = R"({"v":"first","x":{"v":"nested"},"v":"second","\u0076":"third"})";
  EXPECT_EQ(str(doc, "v"), "first");
  const std::string doc2 = R"({"x":{"v":"nested"},"v":1,"v":"second"})";
  uint64_t u = 0;
  ASSERT_EQ(get_u64(doc2, "v", &u), kStatusOk);
  EXPECT_EQ(u, 1u);
  std::string s;
  EXPECT_EQ(get_string(doc2, "v", &s), kStatusBadResponse);  // the first is a number
  // A duplicate later in a malformed document still makes it malformed.
  EXPECT_TRUE(refused(R"({"v":1,"v":})", "v"));
}

TEST(device_util_json_scan, Numbers) {
  struct Case {
    const char* value;
    bool ok;
    uint64_t expect;
  };
  const Case cases[] = {
      {"0", true, 0},
      {"7", true, 7},
      {"12345", true, 12345},
      {"4294967296", true, 4294967296ull},
      {"18446744073709551615", true, UINT64_MAX},
      {"18446744073709551616", false, 0},   // overflow by one
      {"18446744073709551620", false, 0},
      {"99999999999999999999", false, 0},
      {"100000000000000000000", false, 0},
      {"-1", false, 0},
      {"-0", false, 0},
      {"1.0", false, 0},
      {"1.5", false, 0},
      {"1e3", false, 0},
      {"1E3", false, 0},
      {"1e+3", false, 0},
      {"10e-1", false, 0},
      {"\"5\"", false, 0},
      {"true", false, 0},
  };
  for (const Case& c : cases) {
    const std::string doc = std::string(R"({"n":)") + c.value + "}";
    uint64_t u = 123;
    EXPECT_EQ(get_u64(doc, "n", &u), c.ok ? kStatusOk : kStatusBadResponse) << c.value;
    EXPECT_EQ(u, c.expect) << c.value;
  }
  // Not JSON numbers at all: the document is malformed.
  const char* malformed[] = {"+1", "01", "00", "-", "1.", ".5", "1e", "1e+", "0x10", "1_000",
                             "NaN", "Infinity", "-01", "1.e3", "--1", "1 2"};
  for (const char* v : malformed) {
    const std::string doc = std::string(R"({"ok":true,"n":)") + v + "}";
    SCOPED_TRACE(doc);
    EXPECT_TRUE(refused(doc, "n"));
    bool b = false;
    EXPECT_EQ(get_bool(doc, "ok", &b), kStatusBadResponse);
  }
}

TEST(device_util_json_scan, Booleans) {
  bool b = true;
  EXPECT_EQ(get_bool(R"({"b":false})", "b", &b), kStatusOk);
  EXPECT_FALSE(b);
  for (const char* v : {"\"true\"", "1", "0", "null", "[true]"}) {
    const std::string doc = std::string(R"({"b":)") + v + "}";
    b = true;
    EXPECT_EQ(get_bool(doc, "b", &b), kStatusBadResponse) << v;
    EXPECT_FALSE(b);
  }
  for (const char* v : {"True", "FALSE", "tru", "truee", "t", "nul", "nulll", "fals"}) {
    const std::string doc = std::string(R"({"b":)") + v + "}";
    EXPECT_TRUE(refused(doc, "b")) << v;
  }
}

TEST(device_util_json_scan, StringCapacity) {
  const std::string doc = R"({"v":"12345","e":""})";
  std::string s;
  EXPECT_EQ(get_string(doc, "v", &s, 6), kStatusOk);  // 5 chars + NUL
  EXPECT_EQ(s, "12345");
  EXPECT_EQ(get_string(doc, "v", &s, 5), kStatusBadResponse);
  EXPECT_EQ(get_string(doc, "v", &s, 1), kStatusBadResponse);
  EXPECT_EQ(get_string(doc, "e", &s, 1), kStatusOk);
  EXPECT_EQ(s, "");
  // Escapes count once decoded.
  EXPECT_EQ(get_string(R"({"v":"\u0041\n"})", "v", &s, 3), kStatusOk);
  EXPECT_EQ(s, "A\n");
  // out_len is optional.
  char buf[8];
  EXPECT_EQ(json_get_string(doc.data(), doc.size(), "v", buf, sizeof buf, nullptr), kStatusOk);
  EXPECT_STREQ(buf, "12345");
}

TEST(device_util_json_scan, NotAnObject) {
  const char* docs[] = {"", " ", "[]", R"(["a",1])", R"("a")", "1", "true", "null",
                        R"([{"a":1}])", "{", "}", "{}", " {} ", "{,}", R"({"a"})", R"({"a":})",
                        R"({"a" 1})", R"({"a":1,})", R"({"a":1 "b":2})", R"({"a":1,,"b":2})",
                        R"({"a":[1,]})", R"({"a":[,1]})", R"({"a":[1 2]})", R"({"a":{"b"}})",
                        R"({"a":1]})", R"({"a":[1}})", R"({1:2})", R"({"a":1}})",
                        R"({"a":1}x)", R"({"a":1}{})", R"({"a":1},)", R"({"a":1} 2)", R"({"a":1}])",
                        "{\"a\":1}\n\n#", "{\"a\":1}\x01"};
  for (const char* d : docs) EXPECT_TRUE(refused(d, "a")) << d;
}

// The server's error answer: the object's span, read with the getters.
TEST(device_util_json_scan, ObjectMembers) {
  const std::string doc =
      R"({"x":[{"code":"no"}],"error":{"code":"product_mismatch","message":"a \"}\" b {","n":{"k":[1,{}]}},"z":1})";
  const char* obj = nullptr;
  size_t n = 0;
  ASSERT_EQ(json_get_object(doc.data(), doc.size(), "error", &obj, &n), kStatusOk);
  const std::string error(obj, n);
  EXPECT_EQ(error, R"({"code":"product_mismatch","message":"a \"}\" b {","n":{"k":[1,{}]}})");
  EXPECT_EQ(str(error, "code"), "product_mismatch");
  EXPECT_EQ(str(error, "message"), "a \"}\" b {");
  ASSERT_EQ(json_get_object(error.data(), error.size(), "n", &obj, &n), kStatusOk);
  EXPECT_EQ(std::string(obj, n), R"({"k":[1,{}]})");
  // Not an object, missing, nested deeper, or a broken document: refused,
  // with the output cleared.
  for (const char* key : {"z", "x", "code", "none"}) {
    EXPECT_EQ(json_get_object(doc.data(), doc.size(), key, &obj, &n), kStatusBadResponse) << key;
    EXPECT_EQ(obj, nullptr);
    EXPECT_EQ(n, 0u);
  }
  for (size_t cut = 0; cut < doc.size(); ++cut)
    EXPECT_EQ(json_get_object(doc.data(), cut, "error", &obj, &n), kStatusBadResponse) << cut;
  EXPECT_EQ(json_get_object(doc.data(), doc.size(), "error", nullptr, &n), kStatusBadArgument);
  EXPECT_EQ(json_get_object(doc.data(), doc.size(), "error", &obj, nullptr), kStatusBadArgument);
  EXPECT_EQ(json_get_object(nullptr, 0, "error", &obj, &n), kStatusBadArgument);
}

TEST(device_util_json_scan, TruncationAtEveryByte) {
  for (const std::string& doc : {kCheckIn, kOriginal,
                                 std::string(R"({"a":{"b":[1,2.5e-3,"x\u0041"]},"c":"\\\"","d":-0})")}) {
    for (size_t n = 0; n < doc.size(); ++n) {
      const std::string part = doc.substr(0, n);
      for (const char* key : {"update", "size", "manifest", "patch_url", "a", "c", "d"})
        EXPECT_TRUE(refused(part, key)) << n << ": " << part;
    }
  }
}

TEST(device_util_json_scan, DepthLimit) {
  // The top-level object is depth 1: 15 more levels are allowed.
  auto nested = [](int levels) {
    std::string open, close;
    for (int i = 0; i < levels; ++i) {
      open += i % 2 ? R"({"k":)" : "[";
      close = (i % 2 ? "}" : "]") + close;
    }
    return R"({"x":)" + open + "1" + close + R"(,"ok":true})";
  };
  bool b = false;
  EXPECT_EQ(get_bool(nested(15), "ok", &b), kStatusOk);
  EXPECT_TRUE(b);
  EXPECT_EQ(get_bool(nested(16), "ok", &b), kStatusBadResponse);
  // Deep nesting far beyond the limit is refused without recursion.
  std::string deep = R"({"x":)" + std::string(100000, '[');
  EXPECT_TRUE(refused(deep, "x"));
  deep += std::string(100000, ']') + "}";
  EXPECT_TRUE(refused(deep, "x"));
}

TEST(device_util_json_scan, Arguments) {
  char buf[8];
  bool b;
  uint64_t u;
  const std::string d = R"({"a":1})";
  EXPECT_EQ(json_get_string(nullptr, 0, "a", buf, sizeof buf, nullptr), kStatusBadArgument);
  EXPECT_EQ(json_get_string(d.data(), d.size(), nullptr, buf, sizeof buf, nullptr), kStatusBadArgument);
  EXPECT_EQ(json_get_string(d.data(), d.size(), "a", nullptr, 8, nullptr), kStatusBadArgument);
  EXPECT_EQ(json_get_string(d.data(), d.size(), "a", buf, 0, nullptr), kStatusBadArgument);
  EXPECT_EQ(json_get_bool(d.data(), d.size(), "a", nullptr), kStatusBadArgument);
  EXPECT_EQ(json_get_bool(nullptr, 0, "a", &b), kStatusBadArgument);
  EXPECT_EQ(json_get_u64(d.data(), d.size(), "a", nullptr), kStatusBadArgument);
  EXPECT_EQ(json_get_u64(d.data(), d.size(), nullptr, &u), kStatusBadArgument);
  // The length is what counts: bytes after it are not read.
  const std::string longer = R"({"a":12}garbage)";
  ASSERT_EQ(json_get_u64(longer.data(), 8, "a", &u), kStatusOk);
  EXPECT_EQ(u, 12u);
}

TEST(device_util_json_scan, RandomMutationsDoNotCrash) {
  std::mt19937 rng(11);
  const std::string alphabet = "{}[]\":,\\ tfn0123456789-+.eEu\x80\xC3\xFFxa";
  int ok = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string doc = round % 2 ? kCheckIn : kOriginal;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % doc.size();
      switch (rng() % 3) {
        case 0: doc[at] = alphabet[rng() % alphabet.size()]; break;
        case 1: doc.erase(at, 1 + rng() % 3); break;
        default: doc.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
      }
      if (doc.empty()) doc = "{";
    }
    std::string s;
    bool b;
    if (get_string(doc, "target_version", &s, 16) == kStatusOk) ++ok;
    get_bool(doc, "update", &b);
    uint64_t u;
    get_u64(doc, "size", &u);
  }
  EXPECT_GT(ok, 0);
}

}  // namespace
}  // namespace ota
