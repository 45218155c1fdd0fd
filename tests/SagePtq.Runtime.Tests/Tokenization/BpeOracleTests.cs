using SagePtq.Runtime.Tokenization;
using SagePtq.Tests;

namespace SagePtq.Runtime.Tests.Tokenization;

/// <summary>The fast BPE (priority queue, "▁" split, word cache) against the naive oracle.</summary>
public class BpeOracleTests
{
    [Fact]
    public void Embedded_tokenizer_matches_the_oracle_on_whole_texts()
    {
        var tokenizer = EmbeddedTokenizerTests.Embedded;
        var oracle = new NaiveBpe(EmbeddedTokenizerTests.EmbeddedTokenizerPath);
        Assert.True(tokenizer.Model.CanSplitAtSpaceMarker);
        var random = new Random(11);
        const string alphabet = "abcdeghilmnorstuTHE   ,.'\n\t0123456789éü日🙂";
        var texts = new List<string>
        {
            "The President said that the Congress shall    have power.", "   ", "aaaaaaaaaaaaaaaa", "1234567890",
            "Mr. Jones' dog didn't bark.\n\nNew paragraph\twith tab",
        };
        for (int i = 0; i < 300; i++)
        {
            var runes = alphabet.EnumerateRunes().ToArray();
            texts.Add(string.Concat(Enumerable.Range(0, random.Next(1, 40)).Select(_ => runes[random.Next(runes.Length)].ToString())));
        }
        foreach (var text in texts)
            Assert.Equal(oracle.EncodeLlamaText(text), tokenizer.Encode(text, addBos: false));
    }

    [Fact]
    public void Encoding_a_word_alone_does_not_depend_on_the_cache()
    {
        var tokenizer = EmbeddedTokenizerTests.Embedded;
        string word = "\u2581Congressional";
        int[] first = tokenizer.Model.EncodeUncached(word);
        var cached = new List<int>();
        tokenizer.Model.Encode(word, cached);
        tokenizer.Model.Encode(word, cached);
        Assert.Equal([.. first, .. first], cached);
    }

    [SharedTheory]
    [InlineData("tokenizer")]
    [InlineData("llama2_tokenizer")]
    public void Shared_tokenizers_match_the_oracle_on_test_text_paragraphs(string goldenKey)
    {
        string path = TokenizerGoldenTests.TokenizerPath(goldenKey);
        var tokenizer = Tokenizer.Load(path);
        var oracle = new NaiveBpe(path);
        // Whole paragraphs as one word for the oracle: this also checks that cutting before "▁" changes nothing.
        var paragraphs = File.ReadAllText(TestAssets.Shared("data", "test.txt")).Split('\n')
            .Where(line => line.Length is > 0 and < 400).Take(40);
        foreach (var paragraph in paragraphs)
            Assert.Equal(oracle.EncodeLlamaText(paragraph), tokenizer.Encode(paragraph, addBos: false));
    }
}
