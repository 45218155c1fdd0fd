using System.Text;
using SagePtq.Runtime.Tokenization;
using SagePtq.Tests;

namespace SagePtq.Runtime.Tests.Tokenization;

/// <summary>The tokenizer of the embedded model (models/sagelm-7m, the same as sagelm-30m's): needs no shared assets.</summary>
public class EmbeddedTokenizerTests
{
    internal static string EmbeddedTokenizerPath => Path.Combine(TestAssets.EmbeddedModel, "tokenizer.json");

    private static readonly Lazy<Tokenizer> Shared = new(() => Tokenizer.Load(EmbeddedTokenizerPath));
    internal static Tokenizer Embedded => Shared.Value;

    private static readonly string[] Texts =
    [
        "Hello world", " leading space", "two  spaces", "trailing space ", "tabs\tand\nnewlines\n",
        "numbers 1234567 and 3.14159", "café 日本語 🙂 Ωmega", "", " ", "a", "<s> stays text", "\n\nstarts with newlines",
    ];

    [Fact]
    public void Special_ids_and_size_are_read_from_the_file()
    {
        var tokenizer = Embedded;
        Assert.Equal(4096, tokenizer.VocabSize);
        Assert.Equal(1, tokenizer.BosId);
        Assert.Equal(2, tokenizer.EosId);
        Assert.Equal(0, tokenizer.UnkId);
        Assert.Equal("<s>", tokenizer.TokenToPiece(1));
        Assert.Equal("<0x0A>", tokenizer.TokenToPiece(3 + 0x0A));
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.TokenToPiece(4096));
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.TokenToPiece(-1));
    }

    [Fact]
    public void Decode_of_encode_gives_the_text_back_and_bos_comes_first()
    {
        foreach (var text in Texts)
        {
            int[] ids = Embedded.Encode(text, addBos: false);
            int[] withBos = Embedded.Encode(text, addBos: true);
            Assert.Equal([Embedded.BosId, .. ids], withBos);
            Assert.Equal(text, Embedded.Decode(ids));
            // BOS and EOS decode to nothing.
            Assert.Equal(text, Embedded.Decode([.. withBos, Embedded.EosId]));
        }
    }

    [Fact]
    public void Characters_outside_the_vocabulary_fall_back_to_their_utf8_bytes()
    {
        int[] ids = Embedded.Encode("🙂", addBos: false);
        Assert.Equal(["▁", "<0xF0>", "<0x9F>", "<0x99>", "<0x82>"], ids.Select(Embedded.TokenToPiece));
        Assert.DoesNotContain(Embedded.UnkId, Embedded.Encode("日本語 and 🙂", addBos: false));
        Assert.Equal("日本語 and 🙂", Embedded.Decode(Embedded.Encode("日本語 and 🙂", addBos: false)));
    }

    [Fact]
    public void Special_tokens_in_text_are_text_unless_parsing_is_asked_for()
    {
        int[] plain = Embedded.Encode("<s>hi</s>", addBos: false);
        Assert.DoesNotContain(Embedded.BosId, plain);
        Assert.DoesNotContain(Embedded.EosId, plain);
        int[] parsed = Embedded.Encode("<s>hi</s>", addBos: false, parseSpecialTokens: true);
        Assert.Equal(Embedded.BosId, parsed[0]);
        Assert.Equal(Embedded.EosId, parsed[^1]);
        // The text between them is normalized on its own, so it gets its own leading "▁" (as in HF).
        Assert.Equal(Embedded.Encode("hi", addBos: false), parsed[1..^1]);
    }

    [Fact]
    public void Streaming_output_equals_decode_and_never_holds_part_of_a_character()
    {
        foreach (var text in Texts.Append("Ünïcödé 日本語🙂🙂 mixed ascii and 語 bytes"))
        {
            int[] ids = Embedded.Encode(text, addBos: true);
            string whole = Embedded.Decode(ids);
            // Prime with every possible prompt length: the split point must not matter.
            for (int prompt = 0; prompt <= ids.Length; prompt++)
            {
                var decoder = Embedded.CreateStreamingDecoder();
                var output = new StringBuilder();
                foreach (int id in ids)
                {
                    string piece = decoder.Append(id);
                    AssertWholeCharacters(piece);
                    output.Append(piece);
                }
                string rest = decoder.Flush();
                Assert.Equal("", rest);
                Assert.Equal(whole, output.ToString());
            }
        }
    }

    [Fact]
    public void A_byte_spelled_character_appears_when_its_last_byte_arrives()
    {
        int[] ids = Embedded.Encode("x🙂", addBos: false);
        var decoder = Embedded.CreateStreamingDecoder();
        var outputs = ids.Select(decoder.Append).ToArray();
        Assert.Equal(["<0xF0>", "<0x9F>", "<0x99>", "<0x82>"], ids[^4..].Select(Embedded.TokenToPiece));
        Assert.Equal(["", "", "", "🙂"], outputs[^4..]);
        Assert.Equal("x", string.Concat(outputs[..^4]));
    }

    [Fact]
    public void Incomplete_bytes_become_replacement_characters()
    {
        var decoder = Embedded.CreateStreamingDecoder();
        Assert.Equal("a", decoder.Append(Embedded.Encode("a", false).Single()));
        Assert.Equal("", decoder.Append(3 + 0xF0));
        Assert.Equal("", decoder.Append(3 + 0x9F));
        Assert.Equal("\uFFFD\uFFFD", decoder.Flush());
        // A lone byte followed by an ordinary piece: the byte is given up on, the piece follows.
        Assert.Equal("b\uFFFD c", Embedded.Decode([.. Embedded.Encode("b", false), 3 + 0xE6, .. Embedded.Encode(" c", false)[1..]]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Embedded.Decode([5000]));
    }

    [Fact]
    public void Only_the_start_of_the_stream_loses_its_leading_space()
    {
        int[] hello = Embedded.Encode("Hello", addBos: false);
        int[] world = Embedded.Encode("world", addBos: false);   // "▁world"
        var decoder = Embedded.CreateStreamingDecoder();
        Assert.Equal("", decoder.Append(Embedded.BosId));
        Assert.Equal("Hello", string.Concat(hello.Select(decoder.Append)));
        Assert.Equal(" world", string.Concat(world.Select(decoder.Append)));
    }

    private static void AssertWholeCharacters(string piece)
    {
        Assert.DoesNotContain('\uFFFD', piece);
        for (int i = 0; i < piece.Length; i++)
        {
            if (char.IsHighSurrogate(piece[i])) Assert.True(i + 1 < piece.Length && char.IsLowSurrogate(piece[++i]), "split surrogate pair");
            else Assert.False(char.IsLowSurrogate(piece[i]), "lone low surrogate");
        }
    }
}
