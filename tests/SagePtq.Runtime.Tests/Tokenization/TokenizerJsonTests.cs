using System.Text.Json.Nodes;
using SagePtq.Runtime.Tokenization;
using SagePtq.Tests;

namespace SagePtq.Runtime.Tests.Tokenization;

/// <summary>The tokenizer.json forms that are read (variants of the embedded file) and the ones that are refused.</summary>
public class TokenizerJsonTests
{
    private const string VariantPath = "variant/tokenizer.json";

    private static JsonObject EmbeddedJson() =>
        JsonNode.Parse(File.ReadAllText(EmbeddedTokenizerTests.EmbeddedTokenizerPath))!.AsObject();

    private static Tokenizer Variant(Action<JsonObject> edit)
    {
        var json = EmbeddedJson();
        edit(json);
        return Tokenizer.Parse(json.ToJsonString(), VariantPath);
    }

    private static void AssertRefused(string expectedProblemPart, Action<JsonObject> edit)
    {
        var e = Assert.Throws<ModelFileException>(() => Variant(edit));
        Assert.StartsWith("tokenizer.json: ", e.Message);
        Assert.Equal(VariantPath, e.FilePath);
        Assert.Contains(expectedProblemPart, e.Problem);
    }

    private static readonly string[] Samples = ["Hello world", "The President said that", "numbers 123 and café 🙂"];

    [Fact]
    public void Merges_as_strings_or_as_pairs_give_the_same_ids()
    {
        var asPairs = Variant(_ => { });
        Assert.IsType<JsonArray>(EmbeddedJson()["model"]!["merges"]![0]);
        var asStrings = Variant(json =>
        {
            var merges = json["model"]!["merges"]!.AsArray();
            json["model"]!["merges"] = new JsonArray(merges.Select(m => (JsonNode)JsonValue.Create($"{m![0]} {m[1]}")).ToArray());
        });
        foreach (var text in Samples) Assert.Equal(asPairs.Encode(text, true), asStrings.Encode(text, true));
    }

    [Fact]
    public void Metaspace_pre_tokenizer_form_matches_the_legacy_normalizer_where_hf_says_it_should()
    {
        var legacy = EmbeddedTokenizerTests.Embedded;
        Tokenizer Metaspace(string scheme, bool split) => Variant(json =>
        {
            json["normalizer"] = null;
            json["pre_tokenizer"] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "\u2581", ["prepend_scheme"] = scheme, ["split"] = split };
        });
        var first = Metaspace("first", split: false);
        foreach (var text in Samples) Assert.Equal(legacy.Encode(text, false), first.Encode(text, false));
        // Metaspace does not prepend to text that already starts with a space; the legacy normalizer does.
        Assert.Equal(legacy.Encode("leading", false), first.Encode(" leading", false));

        var never = Metaspace("never", split: false);
        var oracle = new NaiveBpe(EmbeddedTokenizerTests.EmbeddedTokenizerPath);
        Assert.Equal(oracle.EncodeWord("Hello\u2581world"), never.Encode("Hello world", false));

        // split: every "▁" starts a word, so a run of spaces is cut into single "▁" pieces.
        var split = Metaspace("always", split: true);
        int space = legacy.Encode(" ", false)[0];
        Assert.Equal([.. split.Encode("two", false), space, .. split.Encode("spaces", false)], split.Encode("two  spaces", false));
        foreach (var text in Samples) Assert.Equal(legacy.Encode(text, false), split.Encode(text, false));
    }

    [Fact]
    public void Metaspace_decoder_strips_the_first_pieces_space_only()
    {
        var tokenizer = Variant(json => json["decoder"] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "\u2581", ["prepend_scheme"] = "always" });
        Assert.Equal("Hello world", tokenizer.Decode(tokenizer.Encode("Hello world", true)));
        // "▁▁world": only the first "▁" goes.
        Assert.Equal(" world", tokenizer.Decode(tokenizer.Encode(" world", false)));
    }

    [Fact]
    public void Without_byte_fallback_unknown_characters_are_unk_fused_when_asked()
    {
        var fused = Variant(json => json["model"]!["byte_fallback"] = false);
        var unfused = Variant(json => { json["model"]!["byte_fallback"] = false; json["model"]!["fuse_unk"] = false; });
        Assert.Equal(1, fused.Encode("a日本b", false).Count(id => id == fused.UnkId));
        Assert.Equal(2, unfused.Encode("a日本b", false).Count(id => id == unfused.UnkId));
    }

    [Fact]
    public void Non_special_added_tokens_are_cut_out_before_bpe()
    {
        var tokenizer = Variant(json => json["added_tokens"]!.AsArray().Add(new JsonObject
        {
            ["id"] = 4096, ["content"] = "<|tool|>", ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
            ["normalized"] = false, ["special"] = false,
        }));
        Assert.Equal(4097, tokenizer.VocabSize);
        int[] ids = tokenizer.Encode("call<|tool|>now", false);
        Assert.Equal([.. tokenizer.Encode("call", false), 4096, .. tokenizer.Encode("now", false)], ids);
        Assert.Equal("<|tool|>", tokenizer.TokenToPiece(4096));
        Assert.Equal("call<|tool|> now", tokenizer.Decode(ids));   // the second text piece had its own "▁"
    }

    [Fact]
    public void A_missing_file_is_a_model_file_error_naming_it()
    {
        using var dir = TestAssets.NewTempDir();
        var e = Assert.Throws<ModelFileException>(() => Tokenizer.Load(dir.File("tokenizer.json")));
        Assert.Equal(dir.File("tokenizer.json"), e.FilePath);
        Assert.Contains("not found", e.Message);
    }

    [Fact]
    public void Invalid_json_is_a_model_file_error_naming_the_file()
    {
        using var dir = TestAssets.NewTempDir();
        File.WriteAllText(dir.File("tokenizer.json"), "{\"model\": {\"type\": \"BPE\", ");
        var e = Assert.Throws<ModelFileException>(() => Tokenizer.Load(dir.File("tokenizer.json")));
        Assert.StartsWith("tokenizer.json: not valid JSON", e.Message);
        Assert.Throws<ModelFileException>(() => Tokenizer.Parse("[1, 2]", VariantPath));
    }

    [Fact]
    public void Unsupported_forms_are_refused_with_the_field_named()
    {
        AssertRefused("model type \"WordPiece\"", json => json["model"]!["type"] = "WordPiece");
        AssertRefused("normalizer type \"BertNormalizer\"", json => json["normalizer"] = new JsonObject { ["type"] = "BertNormalizer" });
        AssertRefused("Regex", json => json["normalizer"]!["normalizers"]![1]!["pattern"] = new JsonObject { ["Regex"] = "\\s" });
        AssertRefused("pre_tokenizer type \"ByteLevel\"", json => json["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel" });
        AssertRefused("decoder type \"WordPiece\"", json => json["decoder"] = new JsonObject { ["type"] = "WordPiece" });
        AssertRefused("no \"decoder\"", json => json["decoder"] = null);
        AssertRefused("dropout", json => json["model"]!["dropout"] = 0.1);
        AssertRefused("no \"model\"", json => json.Remove("model"));
        AssertRefused("is not in the vocabulary", json => json["model"]!["merges"]!.AsArray().Add(new JsonArray("zz", "qq")));
        AssertRefused("neither", json => json["model"]!["merges"]!.AsArray().Add("one-part"));
        AssertRefused("more than one piece", json => json["model"]!["vocab"]!["extra-piece"] = 5);
        AssertRefused("single_word", json => json["added_tokens"]![0]!["single_word"] = true);
    }
}
