using System.Text;
using System.Text.Json;

namespace SagePtq.Runtime.Tests.Tokenization;

/// <summary>
/// The test oracle for BPE: reads vocab and merges from tokenizer.json on its own, and encodes one word
/// the obvious way, on strings: repeatedly merge the adjacent pair with the lowest merge rank (the
/// leftmost of equals) until no pair has a merge. Quadratic, and meant to be.
/// </summary>
internal sealed class NaiveBpe
{
    private readonly Dictionary<string, int> _vocab = new(StringComparer.Ordinal);
    private readonly Dictionary<(string, string), int> _ranks = new();

    public NaiveBpe(string tokenizerJsonPath)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(tokenizerJsonPath));
        var model = document.RootElement.GetProperty("model");
        foreach (var entry in model.GetProperty("vocab").EnumerateObject()) _vocab[entry.Name] = entry.Value.GetInt32();
        int rank = 0;
        foreach (var merge in model.GetProperty("merges").EnumerateArray())
        {
            var pair = merge.ValueKind == JsonValueKind.String
                ? (merge.GetString()!.Split(' ')[0], merge.GetString()!.Split(' ')[1])
                : (merge[0].GetString()!, merge[1].GetString()!);
            _ranks[pair] = rank++;
        }
    }

    /// <summary>The ids of one word (already normalized: spaces as "▁"), unknown characters as bytes.</summary>
    public int[] EncodeWord(string word)
    {
        var symbols = new List<string>();
        foreach (var rune in word.EnumerateRunes())
        {
            string s = rune.ToString();
            if (_vocab.ContainsKey(s)) symbols.Add(s);
            else symbols.AddRange(Encoding.UTF8.GetBytes(s).Select(b => $"<0x{b:X2}>"));
        }
        while (true)
        {
            int best = -1, bestRank = int.MaxValue;
            for (int i = 0; i + 1 < symbols.Count; i++)
                if (_ranks.TryGetValue((symbols[i], symbols[i + 1]), out int rank) && rank < bestRank)
                    (best, bestRank) = (i, rank);
            if (best < 0) break;
            symbols[best] += symbols[best + 1];
            symbols.RemoveAt(best + 1);
        }
        return symbols.Select(s => _vocab[s]).ToArray();
    }

    /// <summary>The Llama legacy normalization ("▁" in front, spaces to "▁") and the whole text as one word.</summary>
    public int[] EncodeLlamaText(string text) => text.Length == 0 ? [] : EncodeWord("\u2581" + text.Replace(' ', '\u2581'));
}
