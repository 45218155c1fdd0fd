using System.Text.Json;
using SagePtq.Generator.Json;
using SagePtq.Generator.Tests.Infrastructure;

namespace SagePtq.Generator.Tests;

/// <summary>
/// The generator's own strict JSON reader, with System.Text.Json (strict by default) as the oracle:
/// both accept the same documents with the same values, and both refuse the same malformed ones.
/// </summary>
public sealed class JsonReaderTests
{
    public static TheoryData<string> ValidDocuments() =>
    [
        "{}", "[]", "0", "-0", "1.5", "-12.25e-3", "1E+10", "true", "false", "null", "\"\"",
        " { \"a\" : [ 1 , 2 , { \"b\" : null } ] } \n",
        "\"esc \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\ud83d\\ude00\"",
        "{\"n\":9223372036854775807,\"m\":-9223372036854775808,\"big\":1e308}",
        "[\r\n\t1,\r\n\t\"é→\"\r\n]",
    ];

    public static TheoryData<string> MalformedDocuments() =>
    [
        "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "{'a':1}", "[01]", "[1.]", "[.5]", "[1e]", "[+1]",
        "[-]", "\"unterminated", "\"tab\there\"", "\"bad \\x escape\"", "\"\\u12\"", "tru", "nul", "[1] 2", "// c\n{}",
        "{\"a\":1}/* c */", "[NaN]", "[Infinity]", "\"\\ud83d alone\"", "\"\\ude00 alone\"", "[1e999]",
    ];

    // System.Text.Json tokenizes these and fails only when the value is read (lone surrogates) or not
    // at all (1e999 as a token); this reader refuses them at once.
    private static readonly HashSet<string> StricterThanTheOracle = ["[1e999]", "\"\\ud83d alone\"", "\"\\ude00 alone\""];

    [Theory]
    [MemberData(nameof(ValidDocuments))]
    public void Valid_documents_read_as_system_text_json_reads_them(string text)
    {
        using var oracle = JsonDocument.Parse(text);
        AssertSame(oracle.RootElement, JsonReader.Parse(text));
    }

    [Theory]
    [MemberData(nameof(MalformedDocuments))]
    public void Malformed_documents_are_refused_as_system_text_json_refuses_them(string text)
    {
        var refusedByOracle = false;
        try
        {
            using var _ = JsonDocument.Parse(text);
        }
        catch (JsonException)
        {
            refusedByOracle = true;
        }
        if (!StricterThanTheOracle.Contains(text)) Assert.True(refusedByOracle, "the oracle accepted " + text);
        var error = Assert.Throws<JsonSyntaxException>(() => JsonReader.Parse(text));
        Assert.InRange(error.Offset, 0, text.Length);
    }

    [Fact]
    public void Repeated_keys_are_refused_at_the_second_key()
    {
        var error = Assert.Throws<JsonSyntaxException>(() => JsonReader.Parse("{\"a\": 1, \"a\": 2}"));
        Assert.Equal(9, error.Offset);
        Assert.Contains("\"a\" appears twice", error.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Nesting_is_limited()
    {
        var deep = new string('[', JsonReader.MaxDepth + 1) + new string(']', JsonReader.MaxDepth + 1);
        Assert.Contains("nested deeper", Assert.Throws<JsonSyntaxException>(() => JsonReader.Parse(deep)).Problem, StringComparison.Ordinal);
        var allowed = new string('[', JsonReader.MaxDepth) + new string(']', JsonReader.MaxDepth);
        Assert.IsType<JsonArray>(JsonReader.Parse(allowed));
    }

    [Fact]
    public void Nodes_know_their_spans()
    {
        const string text = "{ \"rows\": 256, \"layout\": \"sage\" }";
        var root = Assert.IsType<JsonObject>(JsonReader.Parse(text));
        Assert.Equal("256", text[root["rows"]!.Start..root["rows"]!.End]);
        Assert.Equal("\"sage\"", text[root["layout"]!.Start..root["layout"]!.End]);
        Assert.Equal(text, text[root.Start..root.End]);
    }

    [Fact]
    public void Integers_are_read_exactly_and_fractions_are_not_integers()
    {
        var root = Assert.IsType<JsonObject>(JsonReader.Parse("{\"a\": 9007199254740993, \"b\": 2.0, \"c\": 1e2}"));
        Assert.True(((JsonNumber)root["a"]!).TryGetInt64(out var a));
        Assert.Equal(9007199254740993L, a); // not representable as a double
        Assert.False(((JsonNumber)root["b"]!).TryGetInt64(out _));
        Assert.False(((JsonNumber)root["c"]!).TryGetInt64(out _));
    }

    [Fact]
    public void Both_fixtures_read_as_system_text_json_reads_them()
    {
        foreach (var item in new[] { Fixtures.Tiny, Fixtures.SageLm7m })
        {
            using var oracle = JsonDocument.Parse(item.Text);
            AssertSame(oracle.RootElement, JsonReader.Parse(item.Text));
        }
    }

    private static void AssertSame(JsonElement expected, JsonNode actual)
    {
        switch (expected.ValueKind)
        {
            case JsonValueKind.Object:
                var obj = Assert.IsType<JsonObject>(actual);
                var members = expected.EnumerateObject().ToList();
                Assert.Equal(members.Select(m => m.Name), obj.Members.Select(m => m.Key));
                foreach (var member in members) AssertSame(member.Value, obj[member.Name]!);
                break;
            case JsonValueKind.Array:
                var array = Assert.IsType<JsonArray>(actual);
                var items = expected.EnumerateArray().ToList();
                Assert.Equal(items.Count, array.Items.Count);
                for (var i = 0; i < items.Count; i++) AssertSame(items[i], array.Items[i]);
                break;
            case JsonValueKind.String:
                Assert.Equal(expected.GetString(), Assert.IsType<JsonString>(actual).Value);
                break;
            case JsonValueKind.Number:
                var number = Assert.IsType<JsonNumber>(actual);
                Assert.Equal(expected.GetRawText(), number.Text);
                Assert.Equal(expected.GetDouble(), number.ToDouble());
                if (expected.TryGetInt64(out var exact))
                {
                    Assert.True(number.TryGetInt64(out var value));
                    Assert.Equal(exact, value);
                }
                break;
            case JsonValueKind.True:
            case JsonValueKind.False:
                Assert.Equal(expected.GetBoolean(), Assert.IsType<JsonBoolean>(actual).Value);
                break;
            default:
                Assert.IsType<JsonNull>(actual);
                break;
        }
    }
}
