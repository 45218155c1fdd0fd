using System.Text.Json;
using SagePtq.Runtime.Tokenization;
using SagePtq.Tests;

namespace SagePtq.Runtime.Tests.Tokenization;

/// <summary>
/// The acceptance tests: ids and decoded text that SentencePiece produced (shared/reference), for the
/// sagelm-30m tokenizer and the 32000-piece Llama-2 tokenizer.
/// </summary>
public class TokenizerGoldenTests
{
    public static string TokenizerPath(string goldenKey) => goldenKey == "tokenizer"
        ? TestAssets.Shared("models", "sagelm-30m", "tokenizer.json")
        : TestAssets.Shared("tokenizers", "llama2", "tokenizer.json");

    [SharedTheory]
    [InlineData("tokenizer")]
    [InlineData("llama2_tokenizer")]
    public void Encode_and_decode_match_sentencepiece_goldens(string goldenKey)
    {
        var tokenizer = Tokenizer.Load(TokenizerPath(goldenKey));
        using var goldens = JsonDocument.Parse(File.ReadAllText(TestAssets.Shared("reference", "goldens.json")));
        var cases = goldens.RootElement.GetProperty(goldenKey).EnumerateArray().ToList();
        Assert.NotEmpty(cases);
        foreach (var golden in cases)
        {
            string text = golden.GetProperty("text").GetString()!;
            int[] expected = golden.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            // The goldens hold ids without BOS.
            Assert.Equal(expected, tokenizer.Encode(text, addBos: false));
            Assert.Equal([tokenizer.BosId, .. expected], tokenizer.Encode(text, addBos: true));
            Assert.Equal(golden.GetProperty("decoded").GetString(), tokenizer.Decode(expected));
        }
    }

    [SharedTheory]
    [InlineData("tokenizer", "test.sagelm-30m.ids.u16")]
    [InlineData("llama2_tokenizer", "test.llama2.ids.u16")]
    public void Whole_test_text_matches_the_reference_ids_under_the_protocol(string goldenKey, string idsFile)
    {
        var tokenizer = Tokenizer.Load(TokenizerPath(goldenKey));
        byte[] raw = File.ReadAllBytes(TestAssets.Shared("reference", idsFile));
        var expected = new int[raw.Length / 2];
        for (int i = 0; i < expected.Length; i++) expected[i] = raw[2 * i] | (raw[2 * i + 1] << 8);

        int[] actual = EvaluationText.TokenizeDocuments(tokenizer, File.ReadAllText(TestAssets.Shared("data", "test.txt")));

        Assert.Equal(expected.Length, actual.Length);
        int firstDifference = Enumerable.Range(0, expected.Length).FirstOrDefault(i => expected[i] != actual[i], -1);
        Assert.True(firstDifference < 0, $"first difference at {firstDifference}: expected {(firstDifference < 0 ? 0 : expected[firstDifference])}, got {(firstDifference < 0 ? 0 : actual[firstDifference])}");
    }
}
