using System.Text;

namespace SagePtq.Runtime.Tokenization;

/// <summary>
/// The <c>normalizer</c> of a tokenizer.json: a fixed sequence of whole-string rewrites applied to each
/// piece of text between added tokens before the model sees it (Llama's legacy form is
/// Prepend("▁") then Replace(" ", "▁")).
/// </summary>
internal sealed class TextNormalizer
{
    private readonly IReadOnlyList<Func<string, string>> _steps;

    /// <summary>Step names, for diagnostics and tests ("Prepend", "Replace", "NFC", ...).</summary>
    public IReadOnlyList<string> StepNames { get; }

    public TextNormalizer(IReadOnlyList<(string Name, Func<string, string> Apply)> steps)
    {
        _steps = steps.Select(s => s.Apply).ToArray();
        StepNames = steps.Select(s => s.Name).ToArray();
    }

    public static TextNormalizer Identity { get; } = new([]);

    public string Apply(string text)
    {
        foreach (var step in _steps) text = step(text);
        return text;
    }

    /// <summary>HF's Prepend: adds the prefix to non-empty text only (so "" stays "").</summary>
    public static (string, Func<string, string>) Prepend(string prefix) =>
        ("Prepend", text => text.Length == 0 ? text : prefix + text);

    /// <summary>HF's Replace with a literal (non-regex) pattern: every occurrence, left to right.</summary>
    public static (string, Func<string, string>) Replace(string pattern, string content) =>
        ("Replace", text => text.Replace(pattern, content, StringComparison.Ordinal));

    public static (string, Func<string, string>) UnicodeForm(string name, NormalizationForm form) =>
        (name, text => text.Normalize(form));
}
