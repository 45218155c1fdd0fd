using System.Collections.Generic;

namespace SagePtq.Generator.Json;

/// <summary>
/// A parsed JSON value with the character range it came from, so that a diagnostic about a field
/// can point at the field itself. Only the parser stage holds these; the pipeline models copy out
/// plain values.
/// </summary>
internal abstract class JsonNode
{
    protected JsonNode(int start, int end)
    {
        Start = start;
        End = end;
    }

    /// <summary>Offset of the value's first character in the manifest text.</summary>
    public int Start { get; }

    /// <summary>Offset just past the value's last character.</summary>
    public int End { get; }

    /// <summary>What kind of value this is, as a message says it ("an object", "a string").</summary>
    public abstract string KindDescription { get; }
}

/// <summary>A JSON object: members in document order, keys unique (the reader refuses repeats).</summary>
internal sealed class JsonObject : JsonNode
{
    private readonly Dictionary<string, JsonNode> _byName;

    public JsonObject(int start, int end, IReadOnlyList<KeyValuePair<string, JsonNode>> members) : base(start, end)
    {
        Members = members;
        _byName = new Dictionary<string, JsonNode>(System.StringComparer.Ordinal);
        foreach (var member in members) _byName[member.Key] = member.Value;
    }

    /// <summary>The members in the order the document lists them.</summary>
    public IReadOnlyList<KeyValuePair<string, JsonNode>> Members { get; }

    /// <summary>The member named <paramref name="name"/>, or null.</summary>
    public JsonNode? this[string name] => _byName.TryGetValue(name, out var value) ? value : null;

    public override string KindDescription => "an object";
}

/// <summary>A JSON array.</summary>
internal sealed class JsonArray : JsonNode
{
    public JsonArray(int start, int end, IReadOnlyList<JsonNode> items) : base(start, end) => Items = items;

    /// <summary>The elements in document order.</summary>
    public IReadOnlyList<JsonNode> Items { get; }

    public override string KindDescription => "an array";
}

/// <summary>A JSON string, unescaped.</summary>
internal sealed class JsonString : JsonNode
{
    public JsonString(int start, int end, string value) : base(start, end) => Value = value;

    /// <summary>The string's value with escapes resolved.</summary>
    public string Value { get; }

    public override string KindDescription => "a string";
}

/// <summary>A JSON number, kept as its source text so integers are never routed through a double.</summary>
internal sealed class JsonNumber : JsonNode
{
    public JsonNumber(int start, int end, string text) : base(start, end) => Text = text;

    /// <summary>The number exactly as written.</summary>
    public string Text { get; }

    /// <summary>True when the number is written without fraction or exponent and fits a long.</summary>
    public bool TryGetInt64(out long value) =>
        long.TryParse(Text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out value);

    /// <summary>The number as a double (always possible for a well-formed JSON number).</summary>
    public double ToDouble() =>
        double.Parse(Text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture);

    public override string KindDescription => "a number";
}

/// <summary>JSON <c>true</c> or <c>false</c>.</summary>
internal sealed class JsonBoolean : JsonNode
{
    public JsonBoolean(int start, int end, bool value) : base(start, end) => Value = value;

    public bool Value { get; }

    public override string KindDescription => "a boolean";
}

/// <summary>JSON <c>null</c>.</summary>
internal sealed class JsonNull : JsonNode
{
    public JsonNull(int start, int end) : base(start, end)
    {
    }

    public override string KindDescription => "null";
}
