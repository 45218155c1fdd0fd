using System.IO.MemoryMappedFiles;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace SagePtq.Runtime.Checkpoints;

/// <summary>
/// One <c>.safetensors</c> file, memory-mapped: an 8-byte little-endian header length, a JSON header
/// naming each tensor's dtype, shape and byte range, then the raw data. Nothing is read until a tensor
/// is asked for, so a 13 GB checkpoint costs only the pages that are touched. Every header claim is
/// checked against the file before any data is trusted.
/// </summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    private const long MaxHeaderBytes = 100L << 20;

    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _base;
    private readonly Dictionary<string, TensorInfo> _tensors;

    private SafetensorsFile(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, byte* basePtr, Dictionary<string, TensorInfo> tensors)
    {
        Path = path;
        _map = map;
        _view = view;
        _base = basePtr;
        _tensors = tensors;
    }

    public string Path { get; }

    public IReadOnlyDictionary<string, TensorInfo> Tensors => _tensors;

    public static SafetensorsFile Open(string path)
    {
        if (!File.Exists(path)) throw new ModelFileException(path, "file not found");
        long fileLength = new FileInfo(path).Length;
        if (fileLength < 8) throw new ModelFileException(path, $"is truncated: {fileLength} bytes, too short for a safetensors header");

        MemoryMappedFile map;
        try { map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, mapName: null, 0, MemoryMappedFileAccess.Read); }
        catch (IOException e) { throw new ModelFileException(path, $"cannot be opened: {e.Message}", e); }
        var view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        byte* basePtr = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref basePtr);
        basePtr += view.PointerOffset;
        try
        {
            var tensors = ParseHeader(path, basePtr, fileLength);
            return new SafetensorsFile(path, map, view, basePtr, tensors);
        }
        catch
        {
            view.SafeMemoryMappedViewHandle.ReleasePointer();
            view.Dispose();
            map.Dispose();
            throw;
        }
    }

    private static Dictionary<string, TensorInfo> ParseHeader(string path, byte* basePtr, long fileLength)
    {
        long headerLength = (long)BitConverter.ToUInt64(new ReadOnlySpan<byte>(basePtr, 8));
        if (headerLength > MaxHeaderBytes || 8 + headerLength > fileLength)
            throw new ModelFileException(path, $"is truncated or not a safetensors file: header claims {headerLength} bytes but the file has {fileLength}");
        long dataStart = 8 + headerLength;
        long dataLength = fileLength - dataStart;

        JsonElement header;
        try
        {
            using var doc = JsonDocument.Parse(new ReadOnlyMemory<byte>(new ReadOnlySpan<byte>(basePtr + 8, (int)headerLength).ToArray()));
            header = doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new ModelFileException(path, $"header is not valid JSON ({e.Message})", e);
        }
        if (header.ValueKind != JsonValueKind.Object)
            throw new ModelFileException(path, "header is not a JSON object");

        var tensors = new Dictionary<string, TensorInfo>(StringComparer.Ordinal);
        foreach (var entry in header.EnumerateObject())
        {
            if (entry.Name == "__metadata__") continue;
            var info = ParseEntry(path, entry, dataStart, dataLength);
            tensors.Add(info.Name, info);
        }
        return tensors;
    }

    private static TensorInfo ParseEntry(string path, JsonProperty entry, long dataStart, long dataLength)
    {
        string name = entry.Name;
        ModelFileException Bad(string what) => new(path, $"tensor {name}: {what}");
        var e = entry.Value;
        if (e.ValueKind != JsonValueKind.Object
            || !e.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String
            || !e.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array
            || !e.TryGetProperty("data_offsets", out var offsetsElement) || offsetsElement.ValueKind != JsonValueKind.Array
            || offsetsElement.GetArrayLength() != 2)
            throw Bad("header entry must have dtype, shape and two data_offsets");

        string dtypeName = dtypeElement.GetString()!;
        var dtype = TensorDTypeExtensions.TryParse(dtypeName)
                    ?? throw Bad($"dtype {dtypeName} is not supported (F16, BF16 and F32 are)");

        long[] shape = shapeElement.EnumerateArray()
            .Select(d => d.ValueKind == JsonValueKind.Number && d.TryGetInt64(out long v) && v >= 0 ? v : throw Bad("shape must be a list of non-negative integers"))
            .ToArray();
        long[] offsets = offsetsElement.EnumerateArray()
            .Select(d => d.ValueKind == JsonValueKind.Number && d.TryGetInt64(out long v) && v >= 0 ? v : throw Bad("data_offsets must be non-negative integers"))
            .ToArray();
        long begin = offsets[0], end = offsets[1];
        if (end < begin) throw Bad($"data_offsets [{begin}, {end}] end before they begin");
        if (end > dataLength)
            throw Bad($"data_offsets [{begin}, {end}] run past the end of the data ({dataLength} bytes): the file is truncated or its header is wrong");

        var info = new TensorInfo(name, path, dtype, shape, dataStart + begin, end - begin);
        long expectedBytes = info.ElementCount * dtype.ByteSize();
        if (expectedBytes != info.ByteLength)
            throw Bad($"shape {info.ShapeText} of {dtypeName} needs {expectedBytes} bytes but data_offsets give {info.ByteLength}");
        return info;
    }

    /// <summary>The raw bytes of a tensor, valid while this file is open.</summary>
    public ReadOnlySpan<byte> GetBytes(TensorInfo tensor)
    {
        if (tensor.FilePath != Path) throw new ArgumentException($"{tensor.Name} is not in {Path}", nameof(tensor));
        return new ReadOnlySpan<byte>(_base + tensor.Offset, checked((int)tensor.ByteLength));
    }

    /// <summary>Converts elements <paramref name="start"/>.. of a tensor (row-major) to FP32 into <paramref name="destination"/>.</summary>
    public void ReadFloat32(TensorInfo tensor, Span<float> destination, long start = 0)
    {
        if (start < 0 || start + destination.Length > tensor.ElementCount)
            throw new ArgumentOutOfRangeException(nameof(start), $"{tensor.Name} has {tensor.ElementCount} elements");
        int size = tensor.DType.ByteSize();
        byte* source = _base + tensor.Offset + start * size;
        int count = destination.Length;
        switch (tensor.DType)
        {
            case TensorDType.F32:
                new ReadOnlySpan<float>(source, count).CopyTo(destination);
                break;
            case TensorDType.F16:
                TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(source, count), destination);
                break;
            case TensorDType.BF16:
                // A bfloat16 is the top half of a float32: widen by shifting into the high 16 bits.
                var bits = new ReadOnlySpan<ushort>(source, count);
                var wide = MemoryMarshal.Cast<float, uint>(destination);
                for (int i = 0; i < count; i++) wide[i] = (uint)bits[i] << 16;
                break;
        }
    }

    public void Dispose()
    {
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}
