using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace SagePtq.Quantizer.Synthetic;

/// <summary>
/// A small, valid LLaMA-style tokenizer.json of any vocabulary size (≥ 259 + its alphabet), for synthetic
/// packs: &lt;unk&gt; &lt;s&gt; &lt;/s&gt;, the 256 byte-fallback pieces &lt;0x00&gt;..&lt;0xFF&gt;, one piece per
/// character of a fixed alphabet, then pieces made by appending a character to an earlier piece, each
/// with its merge, until the vocabulary is full. It tokenizes any text (bytes fall back) but is not a
/// trained tokenizer: it exists so that a pack of a given vocabulary size is complete and loadable.
/// </summary>
public static class SyntheticTokenizer
{
    private const string Alphabet = "▁abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'\"-()";

    /// <summary>Pieces before the generated ones: three specials and 256 byte pieces.</summary>
    public const int FixedPieces = 3 + 256;

    /// <summary>The tokenizer.json bytes for <paramref name="vocabSize"/> ids (deterministic).</summary>
    /// <exception cref="ArgumentOutOfRangeException">Fewer ids than the fixed pieces and the alphabet.</exception>
    public static byte[] Create(int vocabSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(vocabSize, FixedPieces + Alphabet.Length);
        var pieces = new List<string> { "<unk>", "<s>", "</s>" };
        for (int b = 0; b < 256; b++) pieces.Add(string.Create(CultureInfo.InvariantCulture, $"<0x{b:X2}>"));
        var known = new HashSet<string>(pieces, StringComparer.Ordinal);
        var merges = new List<(string Left, string Right)>();
        int firstGenerated = pieces.Count;
        foreach (char c in Alphabet) { pieces.Add(c.ToString()); known.Add(c.ToString()); }
        for (int i = firstGenerated; pieces.Count < vocabSize; i++)
            foreach (char c in Alphabet)
            {
                if (pieces.Count == vocabSize) break;
                string merged = pieces[i] + c;
                if (!known.Add(merged)) continue;
                pieces.Add(merged);
                merges.Add((pieces[i], c.ToString()));
            }

        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteString("version", "1.0");
            json.WriteNull("truncation");
            json.WriteNull("padding");
            json.WriteStartArray("added_tokens");
            for (int id = 0; id < 3; id++)
            {
                json.WriteStartObject();
                json.WriteNumber("id", id);
                json.WriteString("content", pieces[id]);
                json.WriteBoolean("single_word", false);
                json.WriteBoolean("lstrip", false);
                json.WriteBoolean("rstrip", false);
                json.WriteBoolean("normalized", false);
                json.WriteBoolean("special", true);
                json.WriteEndObject();
            }
            json.WriteEndArray();

            json.WriteStartObject("normalizer");
            json.WriteString("type", "Sequence");
            json.WriteStartArray("normalizers");
            json.WriteStartObject(); json.WriteString("type", "Prepend"); json.WriteString("prepend", "▁"); json.WriteEndObject();
            WriteReplace(json, " ", "▁");
            json.WriteEndArray();
            json.WriteEndObject();
            json.WriteNull("pre_tokenizer");
            json.WriteNull("post_processor");

            json.WriteStartObject("decoder");
            json.WriteString("type", "Sequence");
            json.WriteStartArray("decoders");
            WriteReplace(json, "▁", " ");
            json.WriteStartObject(); json.WriteString("type", "ByteFallback"); json.WriteEndObject();
            json.WriteStartObject(); json.WriteString("type", "Fuse"); json.WriteEndObject();
            json.WriteStartObject(); json.WriteString("type", "Strip"); json.WriteString("content", " "); json.WriteNumber("start", 1); json.WriteNumber("stop", 0); json.WriteEndObject();
            json.WriteEndArray();
            json.WriteEndObject();

            json.WriteStartObject("model");
            json.WriteString("type", "BPE");
            json.WriteNull("dropout");
            json.WriteString("unk_token", "<unk>");
            json.WriteNull("continuing_subword_prefix");
            json.WriteNull("end_of_word_suffix");
            json.WriteBoolean("fuse_unk", true);
            json.WriteBoolean("byte_fallback", true);
            json.WriteBoolean("ignore_merges", false);
            json.WriteStartObject("vocab");
            for (int id = 0; id < pieces.Count; id++) json.WriteNumber(pieces[id], id);
            json.WriteEndObject();
            json.WriteStartArray("merges");
            foreach (var (left, right) in merges)
            {
                json.WriteStartArray();
                json.WriteStringValue(left);
                json.WriteStringValue(right);
                json.WriteEndArray();
            }
            json.WriteEndArray();
            json.WriteEndObject();
            json.WriteEndObject();
        }
        return stream.ToArray();
    }

    private static void WriteReplace(Utf8JsonWriter json, string pattern, string content)
    {
        json.WriteStartObject();
        json.WriteString("type", "Replace");
        json.WriteStartObject("pattern");
        json.WriteString("String", pattern);
        json.WriteEndObject();
        json.WriteString("content", content);
        json.WriteEndObject();
    }
}
