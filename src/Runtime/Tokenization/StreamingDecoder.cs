using System.Text;

namespace SagePtq.Runtime.Tokenization;

/// <summary>
/// Decodes ids one at a time for streaming generation. The concatenation of everything
/// <see cref="Append"/> and <see cref="Flush"/> return equals <see cref="Tokenizer.Decode"/> of the whole
/// sequence: the leading-space removal applies only to the start of the stream (so prime a decoder with
/// the prompt ids, then feed it generated ids), and the bytes of a character spelled as &lt;0xNN&gt; pieces
/// are held back until the character is whole, so no call returns part of a character.
/// Not thread-safe: one decoder per stream.
/// </summary>
public sealed class StreamingDecoder
{
    private readonly DecodeTable _table;
    private readonly Utf8Assembler _bytes = new();
    private readonly StringBuilder _builder = new();
    private int _stripRemaining;
    private bool _seenPiece;

    internal StreamingDecoder(DecodeTable table)
    {
        _table = table;
        _stripRemaining = table.Decoding.StripCount;
    }

    /// <summary>Adds one id and returns the text that is now complete (possibly empty).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The id is not in the vocabulary.</exception>
    public string Append(int id)
    {
        if ((uint)id >= (uint)_table.Texts.Length || _table.Texts[id] is null)
            throw new ArgumentOutOfRangeException(nameof(id), id, $"Token id {id} is not in the vocabulary ({_table.Texts.Length} ids).");
        if (_table.Skipped[id]) return "";
        _builder.Clear();
        int value = _table.Bytes[id];
        if (value >= 0)
        {
            _bytes.Add((byte)value, _builder);
        }
        else
        {
            _bytes.Finish(_builder);
            string text = _table.Texts[id]!;
            if (!_seenPiece && _table.Decoding.StripFirstPieceSpace && _table.StartsWithSpace[id]) text = text[1..];
            _builder.Append(text);
        }
        _seenPiece = true;
        return Emit();
    }

    /// <summary>Ends the stream: returns what is held back, incomplete bytes as U+FFFD (one per byte).</summary>
    public string Flush()
    {
        _builder.Clear();
        _bytes.Finish(_builder);
        return Emit();
    }

    private string Emit()
    {
        if (_builder.Length == 0) return "";
        int cut = 0;
        if (_stripRemaining > 0)
        {
            while (cut < _builder.Length && _stripRemaining > 0 && _builder[cut] == _table.Decoding.StripChar)
            {
                cut++;
                _stripRemaining--;
            }
            // Only the very start of the text is stripped: once anything else is emitted, stop.
            if (cut < _builder.Length) _stripRemaining = 0;
        }
        return _builder.ToString(cut, _builder.Length - cut);
    }
}
