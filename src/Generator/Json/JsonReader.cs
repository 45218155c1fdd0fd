using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace SagePtq.Generator.Json;

/// <summary>
/// A small, strict JSON reader (RFC 8259) for the manifest. A generator on netstandard2.0 cannot use
/// System.Text.Json without shipping it beside the analyzer, and the manifest needs little: this
/// reader accepts exactly the JSON grammar (no comments, no trailing commas, no single quotes, no
/// leading zeros, no lone surrogates in escapes), refuses repeated keys, and limits nesting.
/// </summary>
internal sealed class JsonReader
{
    /// <summary>Deeper nesting than this is refused, so a hostile file cannot exhaust the stack.</summary>
    public const int MaxDepth = 64;

    private readonly string _text;
    private int _position;

    private JsonReader(string text) => _text = text;

    /// <summary>Parses <paramref name="text"/> as one JSON value surrounded by optional whitespace.</summary>
    /// <exception cref="JsonSyntaxException">The text is not well-formed JSON.</exception>
    public static JsonNode Parse(string text)
    {
        var reader = new JsonReader(text);
        reader.SkipWhitespace();
        var value = reader.ReadValue(depth: 0);
        reader.SkipWhitespace();
        if (reader._position != text.Length)
            throw new JsonSyntaxException("unexpected text after the end of the JSON value", reader._position);
        return value;
    }

    private JsonNode ReadValue(int depth)
    {
        if (_position >= _text.Length) throw new JsonSyntaxException("unexpected end of the text, expected a value", _position);
        var c = _text[_position];
        switch (c)
        {
            case '{': return ReadObject(depth + 1);
            case '[': return ReadArray(depth + 1);
            case '"':
                var start = _position;
                var value = ReadString();
                return new JsonString(start, _position, value);
            case 't': return ReadLiteral("true", s => new JsonBoolean(s, s + 4, true));
            case 'f': return ReadLiteral("false", s => new JsonBoolean(s, s + 5, false));
            case 'n': return ReadLiteral("null", s => new JsonNull(s, s + 4));
            default:
                if (c == '-' || (c >= '0' && c <= '9')) return ReadNumber();
                throw new JsonSyntaxException($"unexpected character {Describe(c)}, expected a value", _position);
        }
    }

    private JsonObject ReadObject(int depth)
    {
        if (depth > MaxDepth) throw new JsonSyntaxException($"nested deeper than {MaxDepth} levels", _position);
        var start = _position++;
        var members = new List<KeyValuePair<string, JsonNode>>();
        var seen = new HashSet<string>(System.StringComparer.Ordinal);
        SkipWhitespace();
        if (TryConsume('}')) return new JsonObject(start, _position, members);
        while (true)
        {
            SkipWhitespace();
            if (_position >= _text.Length || _text[_position] != '"')
                throw Expected("a member name in double quotes");
            var keyStart = _position;
            var key = ReadString();
            if (!seen.Add(key)) throw new JsonSyntaxException($"the member \"{key}\" appears twice in one object", keyStart);
            SkipWhitespace();
            if (!TryConsume(':')) throw Expected("':' after a member name");
            SkipWhitespace();
            members.Add(new KeyValuePair<string, JsonNode>(key, ReadValue(depth)));
            SkipWhitespace();
            if (TryConsume(',')) continue;
            if (TryConsume('}')) return new JsonObject(start, _position, members);
            throw Expected("',' or '}' after an object member");
        }
    }

    private JsonArray ReadArray(int depth)
    {
        if (depth > MaxDepth) throw new JsonSyntaxException($"nested deeper than {MaxDepth} levels", _position);
        var start = _position++;
        var items = new List<JsonNode>();
        SkipWhitespace();
        if (TryConsume(']')) return new JsonArray(start, _position, items);
        while (true)
        {
            SkipWhitespace();
            items.Add(ReadValue(depth));
            SkipWhitespace();
            if (TryConsume(',')) continue;
            if (TryConsume(']')) return new JsonArray(start, _position, items);
            throw Expected("',' or ']' after an array element");
        }
    }

    private string ReadString()
    {
        _position++; // the opening quote
        var builder = new StringBuilder();
        while (true)
        {
            if (_position >= _text.Length) throw new JsonSyntaxException("unterminated string", _position);
            var c = _text[_position];
            if (c == '"')
            {
                _position++;
                return builder.ToString();
            }
            if (c < ' ') throw new JsonSyntaxException($"control character {Describe(c)} inside a string (it must be escaped)", _position);
            if (c != '\\')
            {
                builder.Append(c);
                _position++;
                continue;
            }
            var escapeStart = _position++;
            if (_position >= _text.Length) throw new JsonSyntaxException("unterminated string", _position);
            var e = _text[_position++];
            switch (e)
            {
                case '"': builder.Append('"'); break;
                case '\\': builder.Append('\\'); break;
                case '/': builder.Append('/'); break;
                case 'b': builder.Append('\b'); break;
                case 'f': builder.Append('\f'); break;
                case 'n': builder.Append('\n'); break;
                case 'r': builder.Append('\r'); break;
                case 't': builder.Append('\t'); break;
                case 'u': builder.Append(ReadUnicodeEscape(escapeStart)); break;
                default: throw new JsonSyntaxException($"invalid escape '\\{e}' in a string", escapeStart);
            }
        }
    }

    private string ReadUnicodeEscape(int escapeStart)
    {
        var unit = ReadHex4(escapeStart);
        if (char.IsLowSurrogate(unit)) throw new JsonSyntaxException("a \\u escape holds a lone low surrogate", escapeStart);
        if (!char.IsHighSurrogate(unit)) return unit.ToString();
        // A high surrogate must be followed at once by an escaped low surrogate.
        if (_position + 1 < _text.Length && _text[_position] == '\\' && _text[_position + 1] == 'u')
        {
            var lowStart = _position;
            _position += 2;
            var low = ReadHex4(lowStart);
            if (char.IsLowSurrogate(low)) return new string(new[] { unit, low });
        }
        throw new JsonSyntaxException("a \\u escape holds a lone high surrogate", escapeStart);
    }

    private char ReadHex4(int escapeStart)
    {
        if (_position + 4 > _text.Length) throw new JsonSyntaxException("a \\u escape needs four hex digits", escapeStart);
        var value = 0;
        for (var i = 0; i < 4; i++)
        {
            var h = _text[_position++];
            int digit;
            if (h >= '0' && h <= '9') digit = h - '0';
            else if (h >= 'a' && h <= 'f') digit = h - 'a' + 10;
            else if (h >= 'A' && h <= 'F') digit = h - 'A' + 10;
            else throw new JsonSyntaxException("a \\u escape needs four hex digits", escapeStart);
            value = (value << 4) | digit;
        }
        return (char)value;
    }

    private JsonNumber ReadNumber()
    {
        // number = [ "-" ] int [ frac ] [ exp ]; int = "0" / digit1-9 *digit
        var start = _position;
        TryConsume('-');
        if (TryConsume('0'))
        {
            if (_position < _text.Length && IsDigit(_text[_position]))
                throw new JsonSyntaxException("a number has a leading zero", start);
        }
        else if (!ConsumeDigits())
        {
            throw Expected("a digit");
        }
        if (TryConsume('.') && !ConsumeDigits()) throw Expected("a digit after the decimal point");
        if (TryConsume('e') || TryConsume('E'))
        {
            if (!TryConsume('+')) TryConsume('-');
            if (!ConsumeDigits()) throw Expected("a digit in the exponent");
        }
        var text = _text.Substring(start, _position - start);
        var asDouble = double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);
        if (double.IsInfinity(asDouble)) throw new JsonSyntaxException($"the number {text} is too large", start);
        return new JsonNumber(start, _position, text);
    }

    private JsonNode ReadLiteral(string literal, System.Func<int, JsonNode> create)
    {
        var start = _position;
        if (string.CompareOrdinal(_text, _position, literal, 0, literal.Length) != 0)
            throw new JsonSyntaxException($"unexpected character {Describe(_text[_position])}, expected a value", _position);
        _position += literal.Length;
        return create(start);
    }

    private bool ConsumeDigits()
    {
        var start = _position;
        while (_position < _text.Length && IsDigit(_text[_position])) _position++;
        return _position > start;
    }

    private bool TryConsume(char c)
    {
        if (_position >= _text.Length || _text[_position] != c) return false;
        _position++;
        return true;
    }

    private void SkipWhitespace()
    {
        // JSON whitespace is exactly these four characters.
        while (_position < _text.Length)
        {
            var c = _text[_position];
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
            _position++;
        }
    }

    private JsonSyntaxException Expected(string what) =>
        _position >= _text.Length
            ? new JsonSyntaxException($"unexpected end of the text, expected {what}", _position)
            : new JsonSyntaxException($"unexpected character {Describe(_text[_position])}, expected {what}", _position);

    private static bool IsDigit(char c) => c >= '0' && c <= '9';

    private static string Describe(char c) =>
        c < ' ' || c > '~' ? "U+" + ((int)c).ToString("X4", CultureInfo.InvariantCulture) : "'" + c + "'";
}
