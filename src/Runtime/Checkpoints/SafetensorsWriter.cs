using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace SagePtq.Runtime.Checkpoints;

/// <summary>
/// Writes a <c>.safetensors</c> file: tensors are collected in memory, then written in name order
/// with the JSON header padded to 8 bytes, to a temporary name renamed into place, so a reader never
/// sees half a file. For checkpoints made by tools and tests (small models, synthetic fixtures).
/// </summary>
public sealed class SafetensorsWriter
{
    private readonly SortedDictionary<string, (TensorDType DType, long[] Shape, byte[] Data)> _tensors = new(StringComparer.Ordinal);

    /// <summary>Adds a tensor, converting FP32 values to <paramref name="dtype"/> (BF16 rounds to nearest even).</summary>
    public SafetensorsWriter Add(string name, TensorDType dtype, long[] shape, ReadOnlySpan<float> values)
    {
        long count = shape.Aggregate(1L, (a, b) => a * b);
        if (count != values.Length) throw new ArgumentException($"{name}: shape holds {count} values, {values.Length} given");
        byte[] data = new byte[values.Length * dtype.ByteSize()];
        switch (dtype)
        {
            case TensorDType.F32:
                MemoryMarshal.AsBytes(values).CopyTo(data);
                break;
            case TensorDType.F16:
                var halves = MemoryMarshal.Cast<byte, Half>(data.AsSpan());
                for (int i = 0; i < values.Length; i++) halves[i] = (Half)values[i];
                break;
            case TensorDType.BF16:
                var bf = MemoryMarshal.Cast<byte, ushort>(data.AsSpan());
                for (int i = 0; i < values.Length; i++) bf[i] = ToBFloat16(values[i]);
                break;
        }
        _tensors[name] = (dtype, shape, data);
        return this;
    }

    /// <summary>Adds a tensor's raw little-endian bytes as they are (for fixtures that must be malformed).</summary>
    public SafetensorsWriter AddRaw(string name, TensorDType dtype, long[] shape, byte[] data)
    {
        _tensors[name] = (dtype, shape, data);
        return this;
    }

    public void Write(string path)
    {
        var header = new Dictionary<string, object>(StringComparer.Ordinal);
        long offset = 0;
        foreach (var (name, t) in _tensors)
        {
            header[name] = new { dtype = t.DType.ToString(), shape = t.Shape, data_offsets = new[] { offset, offset + t.Data.Length } };
            offset += t.Data.Length;
        }
        byte[] json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        int padded = (json.Length + 7) / 8 * 8;

        string temp = path + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write))
        {
            stream.Write(BitConverter.GetBytes((ulong)padded));
            stream.Write(json);
            for (int i = json.Length; i < padded; i++) stream.WriteByte((byte)' ');
            foreach (var t in _tensors.Values) stream.Write(t.Data);
        }
        File.Move(temp, path, overwrite: true);
    }

    private static ushort ToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x40);
        uint roundingBias = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + roundingBias) >> 16);
    }
}
