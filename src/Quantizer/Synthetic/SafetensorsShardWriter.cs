using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using SagePtq.Runtime.Checkpoints;

namespace SagePtq.Quantizer.Synthetic;

/// <summary>
/// Writes one <c>.safetensors</c> file whose tensors are all declared up front, so the header can be
/// written first and the data streamed after it block by block: unlike <see cref="SafetensorsWriter"/>
/// no tensor is ever whole in memory. Tensors must be written in the declared order, each completely.
/// The header carries <c>__metadata__ {"format": "pt"}</c> as Hugging Face writes it.
/// </summary>
internal sealed class SafetensorsShardWriter : IDisposable
{
    private const int ConvertChunk = 1 << 16;

    private readonly FileStream _stream;
    private readonly IReadOnlyList<(string Name, long[] Shape)> _tensors;
    private readonly TensorDType _dtype;
    private readonly byte[] _buffer = new byte[2 * ConvertChunk];
    private int _current;
    private long _writtenOfCurrent;

    public SafetensorsShardWriter(string path, IReadOnlyList<(string Name, long[] Shape)> tensors, TensorDType dtype)
    {
        if (dtype is not (TensorDType.F16 or TensorDType.BF16)) throw new ArgumentException($"shards are written as F16 or BF16, not {dtype}", nameof(dtype));
        _tensors = tensors;
        _dtype = dtype;
        var header = new Dictionary<string, object>(StringComparer.Ordinal) { ["__metadata__"] = new { format = "pt" } };
        long offset = 0;
        foreach (var (name, shape) in tensors)
        {
            long bytes = ElementCount(shape) * 2;
            header[name] = new { dtype = dtype.ToString(), shape, data_offsets = new[] { offset, offset + bytes } };
            offset += bytes;
        }
        byte[] json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        int padded = (json.Length + 7) / 8 * 8;
        _stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
        _stream.Write(BitConverter.GetBytes((ulong)padded));
        _stream.Write(json);
        for (int i = json.Length; i < padded; i++) _stream.WriteByte((byte)' ');
    }

    /// <summary>Total bytes of data the declared tensors take (without the header).</summary>
    public static long DataBytes(IEnumerable<(string Name, long[] Shape)> tensors) => tensors.Sum(t => ElementCount(t.Shape) * 2);

    /// <summary>Appends the next values of the current tensor, converted to the file's dtype.</summary>
    /// <exception cref="InvalidOperationException">More values than the declared tensors hold.</exception>
    public void Write(ReadOnlySpan<float> values)
    {
        while (!values.IsEmpty)
        {
            if (_current == _tensors.Count) throw new InvalidOperationException("every declared tensor is already written");
            long room = ElementCount(_tensors[_current].Shape) - _writtenOfCurrent;
            int count = (int)Math.Min(Math.Min(room, values.Length), ConvertChunk);
            var chunk = values[..count];
            var target = _buffer.AsSpan(0, 2 * count);
            if (_dtype == TensorDType.F16)
                TensorPrimitives.ConvertToHalf(chunk, MemoryMarshal.Cast<byte, Half>(target));
            else
                ToBFloat16(chunk, MemoryMarshal.Cast<byte, ushort>(target));
            _stream.Write(target);
            values = values[count..];
            _writtenOfCurrent += count;
            if (_writtenOfCurrent == ElementCount(_tensors[_current].Shape)) { _current++; _writtenOfCurrent = 0; }
        }
    }

    /// <summary>Flushes the file to disk after checking that every declared tensor was written whole.</summary>
    public void Finish()
    {
        if (_current != _tensors.Count)
            throw new InvalidOperationException($"tensor {_tensors[_current].Name} is not fully written");
        _stream.Flush(flushToDisk: true);
    }

    public void Dispose() => _stream.Dispose();

    private static long ElementCount(long[] shape) => shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>Round to nearest even on the upper 16 bits; NaN stays a (quiet) NaN.</summary>
    internal static void ToBFloat16(ReadOnlySpan<float> values, Span<ushort> destination)
    {
        for (int i = 0; i < values.Length; i++)
        {
            uint bits = BitConverter.SingleToUInt32Bits(values[i]);
            destination[i] = float.IsNaN(values[i]) ? (ushort)((bits >> 16) | 0x40)
                : (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
        }
    }
}
