using System.Globalization;

namespace SagePtq.Quantizer.Methods;

/// <summary>
/// A method's options as the user gave them (<c>bits=2</c>, <c>group_size=128</c>), read by the
/// method's factory with typed getters that state each option's default. Anything given but never
/// read is an unknown option, reported with the names the method knows, so a typo is never
/// silently ignored. <see cref="Effective"/> is what the manifest records: every option the method
/// read, with the value it used, so a pack says exactly how it was made.
/// </summary>
public sealed class MethodOptions
{
    private readonly SortedDictionary<string, string> _given;
    private readonly SortedDictionary<string, string> _effective = new(StringComparer.Ordinal);

    public MethodOptions(IReadOnlyDictionary<string, string>? given = null) =>
        _given = new(given?.ToDictionary(p => p.Key, p => p.Value) ?? [], StringComparer.Ordinal);

    /// <summary>Parses <c>key=value</c> pairs; a pair without '=' or a repeated key is an error.</summary>
    /// <exception cref="ArgumentException">A malformed or repeated pair.</exception>
    public static MethodOptions Parse(IEnumerable<string> pairs)
    {
        var given = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in pairs)
        {
            int eq = pair.IndexOf('=');
            if (eq <= 0) throw new ArgumentException($"option '{pair}' is not of the form key=value");
            if (!given.TryAdd(pair[..eq].Trim(), pair[(eq + 1)..].Trim()))
                throw new ArgumentException($"option '{pair[..eq]}' is given twice");
        }
        return new MethodOptions(given);
    }

    /// <summary>The options the method read, with the values it used (defaults included).</summary>
    public IReadOnlyDictionary<string, string> Effective => _effective;

    public int Int(string name, int defaultValue, int min, int max) =>
        Read(name, defaultValue, s => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : null,
            v => v >= min && v <= max, $"an integer from {min} to {max}");

    public double Double(string name, double defaultValue, double min, double max) =>
        Read(name, defaultValue, s => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v : null,
            v => v >= min && v <= max, $"a number from {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}");

    public bool Bool(string name, bool defaultValue) =>
        Read(name, defaultValue, s => s switch { "true" or "1" or "yes" => true, "false" or "0" or "no" => (bool?)false, _ => null },
            _ => true, "true or false");

    public string Choice(string name, string defaultValue, params string[] allowed) =>
        Read(name, defaultValue, s => s, allowed.Contains, "one of " + string.Join(", ", allowed));

    /// <summary>Call after the factory has read every option it knows.</summary>
    /// <exception cref="ArgumentException">An option was given that the method does not have.</exception>
    public void ThrowIfUnknown(string method)
    {
        var unknown = _given.Keys.Where(k => !_effective.ContainsKey(k)).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"method '{method}' has no option {string.Join(", ", unknown.Select(u => $"'{u}'"))}; " +
                $"its options are {(_effective.Count == 0 ? "none" : string.Join(", ", _effective.Keys))}");
    }

    private T Read<T>(string name, T defaultValue, Func<string, T?> parse, Func<T, bool> valid, string expected) where T : struct =>
        ReadCore(name, defaultValue, s => parse(s) is { } v ? (true, v) : (false, default), valid, expected);

    private string Read(string name, string defaultValue, Func<string, string> parse, Func<string, bool> valid, string expected) =>
        ReadCore(name, defaultValue, s => (true, parse(s)), valid, expected);

    private T ReadCore<T>(string name, T defaultValue, Func<string, (bool Ok, T Value)> parse, Func<T, bool> valid, string expected)
    {
        T value = defaultValue;
        if (_given.TryGetValue(name, out var text))
        {
            var (ok, parsed) = parse(text);
            if (!ok || !valid(parsed)) throw new ArgumentException($"option {name}={text}: expected {expected}");
            value = parsed;
        }
        _effective[name] = value is bool flag ? (flag ? "true" : "false") : Convert.ToString(value, CultureInfo.InvariantCulture)!;
        return value;
    }
}
