using System.Collections.Generic;

namespace SagePtq.Generator.Parsing;

/// <summary>Maps offsets of a text to zero-based (line, column), counting \n, \r\n and \r as line ends.</summary>
internal sealed class TextLines
{
    private readonly List<int> _lineStarts = new() { 0 };
    private readonly int _length;

    public TextLines(string text)
    {
        _length = text.Length;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\r' && i + 1 < text.Length && text[i + 1] == '\n') i++;
            if (c == '\r' || c == '\n') _lineStarts.Add(i + 1);
        }
    }

    /// <summary>The zero-based line and column of <paramref name="offset"/> (clamped to the text).</summary>
    public (int Line, int Column) Position(int offset)
    {
        if (offset < 0) offset = 0;
        if (offset > _length) offset = _length;
        var index = _lineStarts.BinarySearch(offset);
        var line = index >= 0 ? index : ~index - 1;
        return (line, offset - _lineStarts[line]);
    }
}
