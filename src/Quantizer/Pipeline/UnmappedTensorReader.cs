using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using SagePtq.Runtime;
using SagePtq.Runtime.Checkpoints;

namespace SagePtq.Quantizer.Pipeline;

/// <summary>
/// Reads checkpoint tensors with positioned file reads instead of through the memory map. Pages of a
/// mapping that were touched count in the process's resident set until the mapping closes, so reading
/// a 13.5 GB checkpoint through <see cref="Checkpoint.ReadFloat32(string)"/> makes the resident set
/// grow by the whole checkpoint over a run; read this way the data passes through the OS page cache
/// (reclaimable, not the process's) and the process holds only the FP32 copy it asked for. The values
/// are exactly <see cref="Checkpoint.ReadFloat32(string, Span{float}, long)"/>'s.
/// </summary>
internal sealed class UnmappedTensorReader(Checkpoint checkpoint) : IDisposable
{
    private const int ChunkValues = 1 << 16;

    private readonly Dictionary<string, SafeFileHandle> _files = new(StringComparer.Ordinal);

    /// <summary>A whole tensor as FP32, row-major.</summary>
    public float[] ReadFloat32(string name)
    {
        var values = new float[checked((int)checkpoint.GetInfo(name).ElementCount)];
        ReadFloat32(name, values, 0);
        return values;
    }

    /// <summary>Elements <paramref name="start"/>.. of a tensor as FP32 into <paramref name="destination"/>.</summary>
    /// <exception cref="ModelFileException">The file is shorter than its header says or cannot be read.</exception>
    public void ReadFloat32(string name, Span<float> destination, long start)
    {
        var info = checkpoint.GetInfo(name);
        if (start < 0 || start + destination.Length > info.ElementCount)
            throw new ArgumentOutOfRangeException(nameof(start), $"{name} has {info.ElementCount} elements");
        var file = Handle(info.FilePath);
        int size = info.DType.ByteSize();
        byte[] buffer = ArrayPool<byte>.Shared.Rent(4 * ChunkValues);   // per call: several linears may be read at once
        try
        {
            for (int done = 0; done < destination.Length;)
            {
                int count = Math.Min(ChunkValues, destination.Length - done);
                var bytes = buffer.AsSpan(0, count * size);
                long offset = info.Offset + (start + done) * size;
                try
                {
                    for (int read = 0; read < bytes.Length;)
                    {
                        int n = RandomAccess.Read(file, bytes[read..], offset + read);
                        if (n == 0) throw new ModelFileException(info.FilePath, $"ends inside tensor {name}: the file is truncated");
                        read += n;
                    }
                }
                catch (IOException e) { throw new ModelFileException(info.FilePath, $"cannot be read: {e.Message}", e); }
                Convert(info.DType, bytes, destination.Slice(done, count));
                done += count;
            }
        }
        finally { ArrayPool<byte>.Shared.Return(buffer); }
    }

    private static void Convert(TensorDType dtype, ReadOnlySpan<byte> bytes, Span<float> destination)
    {
        switch (dtype)
        {
            case TensorDType.F32:
                MemoryMarshal.Cast<byte, float>(bytes).CopyTo(destination);
                break;
            case TensorDType.F16:
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(bytes), destination);
                break;
            case TensorDType.BF16:
                // A bfloat16 is the top half of a float32.
                var halves = MemoryMarshal.Cast<byte, ushort>(bytes);
                var wide = MemoryMarshal.Cast<float, uint>(destination);
                for (int i = 0; i < halves.Length; i++) wide[i] = (uint)halves[i] << 16;
                break;
        }
    }

    private SafeFileHandle Handle(string path)
    {
        lock (_files)
        {
            if (!_files.TryGetValue(path, out var handle))
            {
                try { handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read); }
                catch (IOException e) { throw new ModelFileException(path, $"cannot be opened: {e.Message}", e); }
                _files.Add(path, handle);
            }
            return handle;
        }
    }

    public void Dispose()
    {
        foreach (var handle in _files.Values) handle.Dispose();
    }
}
