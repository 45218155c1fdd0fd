using System;
using System.Text;

namespace SagePtq.Generator.Emit;

/// <summary>
/// A small indented writer for generated text: four spaces per level, <c>\n</c> line ends on every
/// platform (so the output is the same bytes everywhere), and <see cref="Block"/> to open a brace
/// scope that closes itself, so emitter code nests like the code it writes.
/// </summary>
internal sealed class SourceWriter
{
    private const string IndentUnit = "    ";
    private readonly StringBuilder _builder = new();

    /// <summary>The current indentation level.</summary>
    public int Indent { get; set; }

    /// <summary>Writes one line at the current indentation (an empty line has no trailing spaces).</summary>
    public void Line(string text = "")
    {
        if (text.Length > 0)
        {
            for (var i = 0; i < Indent; i++) _builder.Append(IndentUnit);
            _builder.Append(text);
        }
        _builder.Append('\n');
    }

    /// <summary>Writes a multi-line text line by line, each at the current indentation.</summary>
    public void Lines(string text)
    {
        foreach (var line in text.Split('\n')) Line(line);
    }

    /// <summary>Writes <c>{</c>, indents, and on dispose unindents and writes <c>}</c> plus <paramref name="closingSuffix"/>.</summary>
    public IDisposable Block(string closingSuffix = "")
    {
        Line("{");
        Indent++;
        return new Scope(this, closingSuffix);
    }

    /// <summary>
    /// Writes <paramref name="prefix"/> then <paramref name="content"/> as a C# raw string literal whose value
    /// is exactly <paramref name="content"/>, then <paramref name="suffix"/> after the closing quotes.
    /// </summary>
    public void RawString(string prefix, string content, string suffix)
    {
        // The delimiter must be longer than any run of quotes in the content.
        var longestRun = 0;
        var run = 0;
        foreach (var c in content)
        {
            run = c == '"' ? run + 1 : 0;
            if (run > longestRun) longestRun = run;
        }
        var quotes = new string('"', Math.Max(3, longestRun + 1));
        Line(prefix + quotes);
        // Each content line is indented like the closing quotes, which the compiler then strips; the
        // newline before the closing quotes is not part of the value.
        foreach (var line in content.Split('\n')) Line(line);
        Line(quotes + suffix);
    }

    /// <inheritdoc />
    public override string ToString() => _builder.ToString();

    private sealed class Scope : IDisposable
    {
        private readonly SourceWriter _writer;
        private readonly string _suffix;

        public Scope(SourceWriter writer, string suffix)
        {
            _writer = writer;
            _suffix = suffix;
        }

        public void Dispose()
        {
            _writer.Indent--;
            _writer.Line("}" + _suffix);
        }
    }
}
