using System.Collections.Generic;
using System.Text;
using Microsoft.CodeAnalysis.CSharp;

namespace SagePtq.Generator.Parsing;

/// <summary>The generated class's name and namespace: derived from the model ID, and checked.</summary>
internal static class ClassNames
{
    // Well-known IDs whose mechanical name would read badly (Sagelm7mModel, Llama27bModel).
    private static readonly Dictionary<string, string> BuiltIn = new(System.StringComparer.OrdinalIgnoreCase)
    {
        ["sagelm-7m"] = "SageLm7mModel",
        ["llama2-7b"] = "Llama2Model",
        ["llama2-13b"] = "Llama2_13BModel",
        ["llama3-8b"] = "Llama3Model",
    };

    private static readonly char[] Separators = { '-', '_', '.', '/' };

    /// <summary>
    /// The class name for <paramref name="modelId"/>: a built-in name for the well-known IDs, else
    /// the ID's segments (split on <c>- _ . /</c>) in PascalCase, <c>M</c> before a leading digit,
    /// and <c>Model</c> appended unless the name already ends with it.
    /// </summary>
    public static string Derive(string modelId)
    {
        if (BuiltIn.TryGetValue(modelId, out var known)) return known;
        var builder = new StringBuilder();
        foreach (var segment in modelId.Split(Separators, System.StringSplitOptions.RemoveEmptyEntries))
        {
            builder.Append(char.ToUpperInvariant(segment[0]));
            builder.Append(segment, 1, segment.Length - 1);
        }
        if (builder.Length > 0 && char.IsDigit(builder[0])) builder.Insert(0, 'M');
        var name = builder.ToString();
        return name.EndsWith("Model", System.StringComparison.Ordinal) ? name : name + "Model";
    }

    /// <summary>Null when <paramref name="name"/> can name a class, else why not.</summary>
    public static string? CheckIdentifier(string name)
    {
        if (name.Length == 0) return "it is empty";
        if (!SyntaxFacts.IsValidIdentifier(name)) return "it is not a C# identifier (letters, digits and '_', not starting with a digit)";
        if (SyntaxFacts.GetKeywordKind(name) != SyntaxKind.None) return "it is a C# keyword";
        return null;
    }

    /// <summary>Null when <paramref name="ns"/> can name a namespace (dotted identifiers), else why not.</summary>
    public static string? CheckNamespace(string ns)
    {
        var parts = ns.Split('.');
        foreach (var part in parts)
        {
            var problem = CheckIdentifier(part);
            if (problem is not null)
                return part.Length == 0 ? "it has an empty part between dots" : $"its part '{part}' is not usable: {problem}";
        }
        return null;
    }
}
