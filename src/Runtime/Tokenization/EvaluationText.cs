namespace SagePtq.Runtime.Tokenization;

/// <summary>
/// The evaluation protocol's text handling (DESIGN.md §4), exactly as the script that made the reference
/// id files does it: read the file as text (line ends "\r\n" and "\r" become "\n"), split it on every
/// "\n\n", drop the parts that are empty or only whitespace, keep the others unchanged (a part may start
/// with "\n" where three newlines met), and tokenize each with BOS in front.
/// </summary>
public static class EvaluationText
{
    /// <summary>The documents of a text, in order.</summary>
    public static IReadOnlyList<string> SplitDocuments(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string unified = text.Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', '\n');
        return unified.Split("\n\n").Where(part => !IsBlank(part)).ToArray();
    }

    /// <summary>BOS followed by the ids of each document, all documents concatenated in order.</summary>
    public static int[] TokenizeDocuments(Tokenizer tokenizer, string text)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        var ids = new List<int>(text.Length / 3);
        foreach (var document in SplitDocuments(text)) ids.AddRange(tokenizer.Encode(document, addBos: true));
        return ids.ToArray();
    }

    /// <summary>Python's <c>not s.strip()</c>: empty or only characters <c>str.isspace</c> accepts.</summary>
    private static bool IsBlank(string part)
    {
        foreach (char c in part)
            if (!char.IsWhiteSpace(c) && c is not (>= '\x1c' and <= '\x1f')) return false;
        return true;
    }
}
