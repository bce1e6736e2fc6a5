// Specifies tools/json.h: the strict parser, the value accessors and the streaming writer.
#include "tools/json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

namespace ckptdb::json {
namespace {

Value ParseOk(std::string_view text) {
  auto r = Parse(text);
  EXPECT_TRUE(r.ok()) << text << " -> " << r.status().ToString();
  return r.ok() ? r.value() : Value();
}

TEST(JsonParse, ReadsEveryValueType) {
  Value v = ParseOk(R"({"n":null,"t":true,"f":false,"i":-12,"d":3.5,"s":"x","a":[1,[2]],"o":{}})");
  ASSERT_TRUE(v.is_object());
  EXPECT_TRUE(v.find("n")->is_null());
  EXPECT_TRUE(v.find("t")->as_bool());
  EXPECT_FALSE(v.find("f")->as_bool());
  EXPECT_EQ(v.find("i")->as_int64(), -12);
  EXPECT_EQ(v.find("d")->as_double(), 3.5);
  EXPECT_EQ(v.find("s")->as_string(), "x");
  EXPECT_EQ(v.find("a")->as_array().size(), 2u);
  EXPECT_EQ(v.find("a")->as_array()[1].as_array()[0].as_uint64(), 2u);
  EXPECT_TRUE(v.find("o")->is_object());
  EXPECT_EQ(v.find("missing"), nullptr);
}

TEST(JsonParse, KeepsObjectMembersInInsertionOrder) {
  Value v = ParseOk(R"({"z":1,"a":2,"m":3})");
  const auto& o = v.as_object();
  ASSERT_EQ(o.size(), 3u);
  EXPECT_EQ(o[0].first, "z");
  EXPECT_EQ(o[1].first, "a");
  EXPECT_EQ(o[2].first, "m");
}

TEST(JsonParse, KeepsIntegersAbove2To53Exact) {
  EXPECT_EQ(ParseOk("18446744073709551615").as_uint64(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(ParseOk("9007199254740993").as_uint64(), 9007199254740993ull);  // 2^53 + 1
  EXPECT_EQ(ParseOk("-9223372036854775808").as_int64(), std::numeric_limits<int64_t>::min());
  Value big = ParseOk("18446744073709551615");
  EXPECT_TRUE(big.is_uint64());
  EXPECT_FALSE(big.is_int64());
}

TEST(JsonParse, IntegersBeyond64BitsBecomeDoubles) {
  Value v = ParseOk("18446744073709551616");
  EXPECT_TRUE(v.is_number());
  EXPECT_FALSE(v.is_integer());
  EXPECT_EQ(v.as_double(), 18446744073709551616.0);
  EXPECT_FALSE(ParseOk("-9223372036854775809").is_integer());
}

TEST(JsonParse, FractionsExponentsAndMinusZeroAreDoubles) {
  for (const char* text : {"1.0", "1e2", "1E+2", "-2.5e-3", "-0"}) EXPECT_FALSE(ParseOk(text).is_integer()) << text;
  EXPECT_EQ(ParseOk("1E+2").as_double(), 100.0);
  EXPECT_TRUE(std::signbit(ParseOk("-0").as_double()));
  EXPECT_EQ(ParseOk("0").as_uint64(), 0u);
  EXPECT_EQ(ParseOk("-2"), Value::Int(-2));  // only "-0" itself is special
  EXPECT_EQ(ParseOk("-10").as_int64(), -10);
}

TEST(JsonParse, DecodesEverySimpleEscape) {
  EXPECT_EQ(ParseOk(R"("\"\\\/\b\f\n\r\t")").as_string(), "\"\\/\b\f\n\r\t");
}

TEST(JsonParse, DecodesUnicodeEscapesAndSurrogatePairs) {
  EXPECT_EQ(ParseOk(R"("\u00e9\u20AC")").as_string(), "\xC3\xA9\xE2\x82\xAC");
  EXPECT_EQ(ParseOk(R"("\uD83D\uDE00")").as_string(), "\xF0\x9F\x98\x80");  // U+1F600
  EXPECT_EQ(ParseOk(R"("a\u0000b")").as_string(), std::string("a\0b", 3));
  EXPECT_EQ(ParseOk("\"\xF0\x9F\x98\x80 caf\xC3\xA9\"").as_string(), "\xF0\x9F\x98\x80 caf\xC3\xA9");
}

TEST(JsonParse, AllowsWhitespaceAroundTheValue) {
  EXPECT_TRUE(ParseOk(" \t\r\n{ \"a\" : [ 1 , 2 ] }\n   ").is_object());
}

TEST(JsonParse, AcceptsNestingUpToTheDepthLimitAndRejectsDeeper) {
  auto nested = [](int n) { return std::string(n, '[') + std::string(n, ']'); };
  EXPECT_TRUE(Parse(nested(kMaxDepth)).ok());
  auto r = Parse(nested(kMaxDepth + 1));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("nesting deeper than 128"), std::string::npos);
  EXPECT_FALSE(Parse(std::string(100000, '[')).ok());  // no stack overflow on hostile input
}

TEST(JsonParse, ErrorNamesTheProblemAndTheByteOffset) {
  auto r = Parse(R"({"a" 1})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "JSON: expected ':' but found character '1' at byte 5");
}

TEST(JsonParse, DuplicateKeyErrorNamesTheKey) {
  auto r = Parse(R"({"w":1,"b":2,"w":3})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "JSON: duplicate key 'w' at byte 13");
}

struct BadCase {
  std::string text;
  std::string problem;  // a substring the message must contain
};

class JsonRejects : public ::testing::TestWithParam<BadCase> {};

TEST_P(JsonRejects, WithInvalidArgumentNamingTheProblemAndOffset) {
  auto r = Parse(GetParam().text);
  ASSERT_FALSE(r.ok()) << GetParam().text;
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  const std::string& m = r.status().message();
  EXPECT_EQ(m.rfind("JSON: ", 0), 0u) << m;
  EXPECT_NE(m.find(GetParam().problem), std::string::npos) << m;
  EXPECT_NE(m.find(" at byte "), std::string::npos) << m;
  EXPECT_EQ(m.find('\n'), std::string::npos) << m;
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, JsonRejects,
    ::testing::Values(
        BadCase{"", "unexpected end of input"}, BadCase{"   ", "unexpected end of input"},
        BadCase{"{", "expected '\"' to start an object key"}, BadCase{R"({"a":1,})", "trailing comma in object"},
        BadCase{"[1,]", "trailing comma in array"}, BadCase{"[1 2]", "expected ',' or ']'"},
        BadCase{R"({"a":1 "b":2})", "expected ',' or '}'"}, BadCase{"{1:2}", "to start an object key"},
        BadCase{R"({"a":1}x)", "after the JSON value"}, BadCase{"[] []", "after the JSON value"},
        BadCase{R"({"a":1,"a":2})", "duplicate key 'a'"}, BadCase{R"("\ud800")", "lone high surrogate"},
        BadCase{R"("\ud800\u0041")", "lone high surrogate"}, BadCase{R"("\udc00")", "lone low surrogate"},
        BadCase{R"("\x")", "invalid escape"}, BadCase{R"("\u12")", "four hex digits"},
        BadCase{"\"a\x01\"", "unescaped control character 0x01"}, BadCase{"\"a\nb\"", "unescaped control"},
        BadCase{"\"\xC3\x28\"", "invalid UTF-8"}, BadCase{"\"\xED\xA0\x80\"", "invalid UTF-8"},
        BadCase{"\"\xC0\xAF\"", "invalid UTF-8"}, BadCase{"\"\xF4\x90\x80\x80\"", "invalid UTF-8"},
        BadCase{"\"\xE2\x82\"", "invalid UTF-8"}, BadCase{"\xEF\xBB\xBF{}", "byte 0xEF"},
        BadCase{"\"abc", "unterminated string"}, BadCase{"01", "leading zero"}, BadCase{"-", "expected a digit"},
        BadCase{"1.", "after '.'"}, BadCase{"1e", "in exponent"}, BadCase{"+1", "character '+'"},
        BadCase{".5", "character '.'"}, BadCase{"1e400", "number out of range"}, BadCase{"-1e-400", "number out of range"}, BadCase{"tru", "character 't'"},
        BadCase{"NaN", "character 'N'"}, BadCase{"Infinity", "character 'I'"}, BadCase{"'a'", "character '''"},
        BadCase{"[1,,2]", "character ','"}, BadCase{std::string("[1]\0", 4), "byte 0x00"}));

TEST(JsonValue, AccessorsOnTheWrongTypeReturnDefaults) {
  Value s = Value::String("x");
  EXPECT_FALSE(s.as_bool());
  EXPECT_EQ(s.as_int64(), 0);
  EXPECT_EQ(s.as_uint64(), 0u);
  EXPECT_EQ(s.as_double(), 0.0);
  EXPECT_TRUE(s.as_array().empty());
  EXPECT_TRUE(s.as_object().empty());
  EXPECT_EQ(s.find("x"), nullptr);
  EXPECT_EQ(Value::Int(-1).as_uint64(), 0u);
  EXPECT_EQ(Value().as_string(), "");
}

TEST(JsonValue, EqualIntegersCompareEqualWhicheverWayTheyWereMade) {
  EXPECT_EQ(Value::Int(5), Value::Uint(5));
  EXPECT_EQ(Value::Int(5), ParseOk("5"));
  EXPECT_NE(Value::Int(5), Value::Double(5.0));
}

TEST(JsonWriter, WritesCompactJsonWithCommasPlacedAutomatically) {
  Writer w;
  w.BeginObject().Key("a").Int(1).Key("b").BeginArray().Bool(true).Null().String("x").BeginObject().EndObject();
  w.BeginArray().EndArray().EndArray().Key("c").Uint(2).EndObject();
  EXPECT_EQ(w.str(), R"({"a":1,"b":[true,null,"x",{},[]],"c":2})");
}

TEST(JsonWriter, PrettyOutputIndentsTwoSpacesAndKeepsEmptyContainersShort) {
  Writer w(/*pretty=*/true);
  w.BeginObject().Key("a").Int(1).Key("b").BeginArray().Int(2).BeginObject().Key("c").Null().EndObject();
  w.EndArray().Key("e").BeginArray().EndArray().EndObject();
  EXPECT_EQ(w.str(), "{\n  \"a\": 1,\n  \"b\": [\n    2,\n    {\n      \"c\": null\n    }\n  ],\n  \"e\": []\n}");
}

TEST(JsonWriter, EscapesQuotesBackslashesAndControlCharacters) {
  Writer w;
  w.String(std::string("q\"b\\s/\n\t\r\b\f\x01\x1F\x7F", 14) + std::string(1, '\0'));
  EXPECT_EQ(w.str(), "\"q\\\"b\\\\s/\\n\\t\\r\\b\\f\\u0001\\u001F\x7F\\u0000\"");
}

TEST(JsonWriter, EveryAsciiStringReadsBackUnchanged) {
  std::string all;
  for (int c = 0; c < 128; ++c) all += char(c);
  EXPECT_EQ(ParseOk(Writer().String(all).str()).as_string(), all);
  Writer w;
  w.BeginObject().Key(all).Int(1).EndObject();
  EXPECT_EQ(ParseOk(w.str()).as_object()[0].first, all);
}

TEST(JsonWriter, PassesValidUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(Writer().String("caf\xC3\xA9 \xF0\x9F\x98\x80").str(), "\"caf\xC3\xA9 \xF0\x9F\x98\x80\"");
  EXPECT_EQ(Writer().String("a\xFF" "b\xC3").str(), "\"a\\ufffdb\\ufffd\"");
}

TEST(JsonWriter, DoublesUseTheShortestRoundTripFormAndStayDoubles) {
  EXPECT_EQ(Writer().Double(0.1).str(), "0.1");
  EXPECT_EQ(Writer().Double(2.0).str(), "2.0");
  EXPECT_EQ(Writer().Double(-0.0).str(), "-0.0");
  EXPECT_EQ(Writer().Double(1e300).str(), "1e+300");
  for (double d : {1.0 / 3, 5e-324, 1.7976931348623157e308, -123456.789, 2.5e-8}) {
    Value v = ParseOk(Writer().Double(d).str());
    EXPECT_FALSE(v.is_integer());
    EXPECT_EQ(v.as_double(), d);
  }
}

TEST(JsonWriter, NonFiniteDoublesAreWrittenAsNull) {
  Writer w;
  w.BeginArray().Double(std::nan("")).Double(INFINITY).Double(-INFINITY).EndArray();
  EXPECT_EQ(w.str(), "[null,null,null]");
}

TEST(JsonWriter, WritesIntegerExtremesExactly) {
  Writer w;
  w.BeginArray().Int(std::numeric_limits<int64_t>::min()).Uint(std::numeric_limits<uint64_t>::max()).EndArray();
  EXPECT_EQ(w.str(), "[-9223372036854775808,18446744073709551615]");
}

TEST(JsonRoundTrip, ParsedValuesSurviveCompactAndPrettyWriting) {
  const char* text = R"({"name":"w\n\u0001\u00e9\ud83d\ude00","big":18446744073709551615,"neg":-5,)"
                     R"("d":[0.5,-0.0,1e-300,12.0],"nested":{"a":[[],{},[null,true,false]]},"e":""})";
  Value v = ParseOk(text);
  EXPECT_EQ(ParseOk(ToJson(v)), v);
  EXPECT_EQ(ParseOk(ToJson(v, /*pretty=*/true)), v);
  EXPECT_EQ(ToJson(ParseOk(ToJson(v))), ToJson(v));  // writing is deterministic
}

TEST(JsonPrintable, EscapesControlBytesAndInvalidUtf8AndTruncates) {
  EXPECT_EQ(Printable("a\nb\tc\x01\xFF\xC3\xA9"), "a\\nb\\tc\\x01\\xFF\xC3\xA9");
  EXPECT_EQ(Printable(std::string(100, 'x'), 10), std::string(10, 'x') + "...");
}


// ---- Behaviour that rests on nlohmann-json (store/interop/json_parse.cc, json_write.cc).

TEST(JsonParse, FindsDuplicateKeysInLargeObjects) {
  // Past a few members, keys are checked through a hash index rather than a scan.
  std::string text = "{";
  for (int i = 0; i < 100; ++i) text += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  EXPECT_EQ(ParseOk(text + "\"last\":0}").as_object().size(), 101u);
  for (const char* dup : {"k0", "k15", "k16", "k99"}) {
    auto r = Parse(text + "\"" + dup + "\":0}");
    ASSERT_FALSE(r.ok()) << dup;
    EXPECT_EQ(r.status().message(), "JSON: duplicate key '" + std::string(dup) + "' at byte " + std::to_string(text.size()));
  }
}

TEST(JsonParse, ComparesKeysAfterDecodingEscapes) {
  EXPECT_EQ(Parse(R"({"a\u0062":1,"ab":2})").status().message(), "JSON: duplicate key 'ab' at byte 13");
  EXPECT_EQ(Parse(R"({"k\\":1,"k\\":2})").status().message(), "JSON: duplicate key 'k\\' at byte 9");
}

TEST(JsonParse, InsideAStringOrNumberTheOffsetIsTheFirstByteThatCannotContinueIt) {
  EXPECT_EQ(Parse("\"\xC3(\"").status().message(), "JSON: invalid UTF-8 at byte 2");
  EXPECT_EQ(Parse(R"(["\u12"])").status().message(), "JSON: \\u must be followed by four hex digits at byte 6");
  EXPECT_EQ(Parse("[1.e5]").status().message(), "JSON: expected a digit after '.' but found character 'e' at byte 3");
  EXPECT_EQ(Parse("[-").status().message(), "JSON: expected a digit after '-' but found end of input at byte 2");
  EXPECT_EQ(Parse("\"a\\").status().message(), "JSON: unterminated string at byte 3");  // ends in a backslash
}

TEST(JsonParse, DepthErrorPointsAtTheFirstBracketTooDeep) {
  EXPECT_EQ(Parse(std::string(200, '[')).status().message(), "JSON: nesting deeper than 128 levels at byte 128");
  EXPECT_EQ(Parse("{\"a\":" + std::string(200, '[')).status().message(),
            "JSON: nesting deeper than 128 levels at byte 132");
}

TEST(JsonParse, NulByteIsNeverTheEndOfTheText) {
  EXPECT_EQ(Parse(std::string("[\0]", 3)).status().message(), "JSON: unexpected byte 0x00, expected a value at byte 1");
  EXPECT_EQ(Parse(std::string("1 \0", 3)).status().message(), "JSON: unexpected byte 0x00 after the JSON value at byte 2");
}

TEST(JsonParse, OnlyNonZeroNumbersThatUnderflowAreRejected) {
  for (const char* zero : {"0.0", "0e-999", "-0.0e5", "0.000e-400"}) EXPECT_EQ(ParseOk(zero).as_double(), 0.0) << zero;
  EXPECT_GT(ParseOk("1e-310").as_double(), 0.0);  // a subnormal is still a number
  EXPECT_EQ(Parse("[2.5e-999]").status().message(), "JSON: number out of range at byte 1");
}

TEST(JsonWriter, ReplacesEachInvalidSequenceOnceAndEscapesGenuineReplacementCharacters) {
  EXPECT_EQ(Writer().String("a\xE2\x82z").str(), "\"a\\ufffdz\"");  // a truncated sequence
  EXPECT_EQ(Writer().String("\xEF\xBF\xBD").str(), "\"\\ufffd\"");
  EXPECT_EQ(ParseOk(Writer().String("\xEF\xBF\xBD").str()).as_string(), "\xEF\xBF\xBD");
}

TEST(JsonWriter, StrBeforeTheEndIsNullOrTheLastTopLevelValue) {
  Writer w;
  EXPECT_EQ(w.str(), "null");
  w.BeginArray().Int(1);
  EXPECT_EQ(w.str(), "null");
  w.EndArray();
  EXPECT_EQ(w.str(), "[1]");
}

TEST(JsonWriter, CopiesAreIndependent) {
  Writer a;
  a.BeginObject().Key("x").BeginArray().Int(1);
  Writer b = a;
  a.Int(2).EndArray().EndObject();
  b.EndArray().Key("y").Null().EndObject();
  EXPECT_EQ(a.str(), R"({"x":[1,2]})");
  EXPECT_EQ(b.str(), R"({"x":[1],"y":null})");
}

TEST(JsonWriter, MisuseDoesNotCrash) {
  Writer w;
  w.EndObject().EndArray().Key("k").BeginObject().Int(1).EndObject().EndObject();
  EXPECT_TRUE(Parse(w.str()).ok()) << w.str();
}

}  // namespace
}  // namespace ckptdb::json
