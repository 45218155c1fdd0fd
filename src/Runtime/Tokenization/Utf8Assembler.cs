using System.Text;

namespace SagePtq.Runtime.Tokenization;

/// <summary>
/// Turns the bytes of &lt;0xNN&gt; pieces back into characters as they arrive, holding back a character
/// whose bytes are not all there yet. A byte that cannot start or continue a well-formed UTF-8 sequence
/// (Unicode Table 3-7) becomes one U+FFFD and decoding restarts at the next byte, as SentencePiece does.
/// </summary>
internal sealed class Utf8Assembler
{
    private readonly byte[] _pending = new byte[4];
    private int _count;

    /// <summary>Whether bytes of an unfinished character are held.</summary>
    public bool HasPending => _count > 0;

    /// <summary>Adds one byte and appends every character that is now complete.</summary>
    public void Add(byte value, StringBuilder output)
    {
        _pending[_count++] = value;
        Drain(output, endOfBytes: false);
    }

    /// <summary>Ends the byte run: what is held becomes U+FFFD, one per byte.</summary>
    public void Finish(StringBuilder output) => Drain(output, endOfBytes: true);

    private void Drain(StringBuilder output, bool endOfBytes)
    {
        while (_count > 0)
        {
            byte lead = _pending[0];
            int length = SequenceLength(lead, out byte secondMin, out byte secondMax);
            if (length == 0)
            {
                Reject(output);
                continue;
            }
            bool malformed = false;
            for (int k = 1; k < _count && k < length; k++)
            {
                byte min = k == 1 ? secondMin : (byte)0x80, max = k == 1 ? secondMax : (byte)0xBF;
                if (_pending[k] < min || _pending[k] > max) { malformed = true; break; }
            }
            if (malformed || (_count < length && endOfBytes))
            {
                Reject(output);
                continue;
            }
            if (_count < length) return;    // wait for the rest of this character
            int codePoint = length == 1 ? lead : lead & (0xFF >> (length + 1));
            for (int k = 1; k < length; k++) codePoint = (codePoint << 6) | (_pending[k] & 0x3F);
            output.Append(new Rune(codePoint).ToString());
            Shift(length);
        }
    }

    private void Reject(StringBuilder output)
    {
        output.Append('\uFFFD');
        Shift(1);
    }

    private void Shift(int consumed)
    {
        Array.Copy(_pending, consumed, _pending, 0, _count - consumed);
        _count -= consumed;
    }

    /// <summary>Bytes in the sequence a lead byte starts (0: not a lead byte) and the allowed range of the second byte.</summary>
    private static int SequenceLength(byte lead, out byte secondMin, out byte secondMax)
    {
        (secondMin, secondMax) = ((byte)0x80, (byte)0xBF);
        switch (lead)
        {
            case < 0x80: return 1;
            case < 0xC2: return 0;
            case < 0xE0: return 2;
            case 0xE0: secondMin = 0xA0; return 3;
            case 0xED: secondMax = 0x9F; return 3;
            case < 0xF0: return 3;
            case 0xF0: secondMin = 0x90; return 4;
            case < 0xF4: return 4;
            case 0xF4: secondMax = 0x8F; return 4;
            default: return 0;
        }
    }
}
