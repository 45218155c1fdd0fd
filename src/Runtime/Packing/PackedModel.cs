using System.IO.MemoryMappedFiles;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace SagePtq.Runtime.Packing;

/// <summary>How <see cref="PackedModel.Open"/> checks a pack.</summary>
public sealed record PackReadOptions
{
    /// <summary>Hash every payload byte and compare with the header's XXH64 (on by default; off skips one pass over the file).</summary>
    public bool VerifyPayloadChecksum { get; init; } = true;
}

/// <summary>
/// An opened pack folder: the validated manifest and the memory-mapped <c>model.sagepack</c>. Tensor
/// bytes are exposed without copying (<see cref="GetTensorBytes"/>), valid until disposal; linears,
/// float tensors and the tokenizer can also be read out as arrays. Anything wrong with either file is
/// reported at <see cref="Open"/> as a <see cref="ModelFileException"/> naming the file and the problem.
/// </summary>
public sealed unsafe partial class PackedModel : IDisposable
{
    /// <summary>How often a manifest whose hash does not match the pack is re-read, in case a writer was replacing the pair.</summary>
    private const int ReplaceRetries = 3;

    private readonly IDisposable _memory;
    private readonly byte* _base;
    private readonly Dictionary<string, PackTableEntry> _table;
    private readonly Dictionary<string, LinearRecord> _linears;
    private readonly Dictionary<string, TensorRecord> _tensors;
    private bool _disposed;

    private PackedModel(string directory, string packPath, PackManifest manifest, IDisposable memory, byte* basePtr, List<PackTableEntry> table)
    {
        Directory = directory;
        PackPath = packPath;
        Manifest = manifest;
        _memory = memory;
        _base = basePtr;
        Table = table;
        _table = table.ToDictionary(e => e.Name, StringComparer.Ordinal);
        _linears = manifest.Linears.ToDictionary(l => l.Name, StringComparer.Ordinal);
        _tensors = manifest.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    public string Directory { get; }

    /// <summary>Full path of the mapped <c>model.sagepack</c>.</summary>
    public string PackPath { get; }

    public PackManifest Manifest { get; }

    /// <summary>The pack's tensor table, in file order.</summary>
    public IReadOnlyList<PackTableEntry> Table { get; }

    /// <summary>Opens and validates the pack in <paramref name="directory"/> (see docs/pack-format.md, "Reading").</summary>
    /// <exception cref="ModelFileException">A file is missing, truncated, altered, of a newer version, or the two files do not belong together.</exception>
    public static PackedModel Open(string directory, PackReadOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        options ??= new PackReadOptions();
        directory = Path.GetFullPath(directory);
        if (!System.IO.Directory.Exists(directory)) throw new ModelFileException(directory, "pack folder not found");
        string manifestPath = Path.Combine(directory, PackFormat.ManifestFileName);

        for (int attempt = 0; ; attempt++)
        {
            byte[] manifestBytes = ReadManifestBytes(manifestPath);
            var manifest = ManifestJson.Parse(manifestBytes, manifestPath);
            string packPath = Path.Combine(directory, manifest.Pack.FileName);
            var file = MapFile(packPath);
            try
            {
                return Validate(directory, packPath, manifest, manifestBytes, manifestPath, file, file.Pointer, file.Length, options);
            }
            catch (ManifestMismatchException e)
            {
                // A writer replaces the pack first and the manifest last: between the two renames an old
                // manifest meets a new pack. Re-reading the manifest shortly after settles that case.
                if (attempt == ReplaceRetries) throw e.ToModelFileException();
                Thread.Sleep(50 << attempt);
            }
        }
    }

    /// <summary>
    /// Opens a pack that is already in memory (an embedded resource, mapped with its assembly):
    /// <paramref name="packLength"/> bytes at <paramref name="pack"/>, which must stay valid until
    /// <paramref name="owner"/> is disposed with the returned model. The checks are those of
    /// <see cref="Open"/>; <paramref name="packName"/> and <paramref name="manifestName"/> name the two
    /// in errors.
    /// </summary>
    /// <exception cref="ModelFileException">Either part is truncated, altered, of a newer version, or the two do not belong together.</exception>
    public static PackedModel OpenMemory(byte* pack, long packLength, byte[] manifestBytes, string packName, string manifestName, IDisposable owner, PackReadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(manifestBytes);
        ArgumentNullException.ThrowIfNull(owner);
        if (pack == null) throw new ArgumentNullException(nameof(pack));
        var manifest = ManifestJson.Parse(manifestBytes, manifestName);
        try
        {
            return Validate(Path.GetDirectoryName(packName) ?? "", packName, manifest, manifestBytes, manifestName, owner, pack, packLength, options ?? new PackReadOptions());
        }
        catch (ManifestMismatchException e)
        {
            throw e.ToModelFileException();
        }
    }

    /// <summary>
    /// Checks what the pack says about itself (size, header, table), that it belongs to the manifest and
    /// agrees with it, and optionally its payload checksum; disposes <paramref name="memory"/> on failure.
    /// </summary>
    private static PackedModel Validate(string directory, string packPath, PackManifest manifest, byte[] manifestBytes, string manifestPath,
        IDisposable memory, byte* basePtr, long length, PackReadOptions options)
    {
        try
        {
            if (length < PackFormat.HeaderBytes)
                throw new ModelFileException(packPath, $"is truncated: {length} bytes, shorter than the {PackFormat.HeaderBytes}-byte header");
            var header = PackHeader.Read(new ReadOnlySpan<byte>(basePtr, PackFormat.HeaderBytes), packPath);
            if (length < header.FileLength)
                throw new ModelFileException(packPath, $"is truncated: the header says {header.FileLength} bytes, the file has {length}");
            if (length > header.FileLength)
                throw new ModelFileException(packPath, $"has {length - header.FileLength} unexpected bytes after the {header.FileLength} the header describes");
            if (header.TableLength > int.MaxValue) throw new ModelFileException(packPath, $"tensor table of {header.TableLength} bytes is too large");
            var table = new ReadOnlySpan<byte>(basePtr + header.TableOffset, (int)header.TableLength);
            if (Xxh64.Hash(table) != header.TableChecksum)
                throw new ModelFileException(packPath, "tensor table checksum does not match: the table is corrupted");
            var entries = PackTableEntry.Parse(table, header.TensorCount, header.PayloadOffset, header.PayloadLength, packPath);
            if (!SHA256.HashData(manifestBytes).AsSpan().SequenceEqual(header.ManifestSha256))
                throw new ManifestMismatchException(manifestPath, $"does not belong to {manifest.Pack.FileName}: its SHA-256 differs from the one recorded in the pack header (one of the two files was altered or replaced)");
            var opened = new PackedModel(directory, packPath, manifest, memory, basePtr, entries);
            opened.CheckAgainstManifest(header);
            if (options.VerifyPayloadChecksum) opened.VerifyPayloadChecksum(header);
            return opened;
        }
        catch
        {
            memory.Dispose();
            throw;
        }
    }

    /// <summary>The manifest's hash is not the one in the pack header: possibly a writer between its two renames.</summary>
    private sealed class ManifestMismatchException(string path, string problem) : Exception(problem)
    {
        public ModelFileException ToModelFileException() => new(path, Message);
    }

    private static byte[] ReadManifestBytes(string manifestPath)
    {
        if (!File.Exists(manifestPath)) throw new ModelFileException(manifestPath, "file not found");
        try { return File.ReadAllBytes(manifestPath); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new ModelFileException(manifestPath, $"cannot be read: {e.Message}", e); }
    }

    /// <summary>Maps a pack file read-only.</summary>
    private static MappedFile MapFile(string packPath)
    {
        if (!File.Exists(packPath)) throw new ModelFileException(packPath, "file not found");
        try { return new MappedFile(packPath); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new ModelFileException(packPath, $"cannot be opened: {e.Message}", e); }
    }

    /// <summary>A whole file mapped read-only, with its address pinned until disposal.</summary>
    private sealed class MappedFile : IDisposable
    {
        private readonly MemoryMappedFile _map;
        private readonly MemoryMappedViewAccessor _view;

        public MappedFile(string path)
        {
            Length = new FileInfo(path).Length;
            if (Length == 0) throw new IOException("the file is empty");
            _map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, mapName: null, 0, MemoryMappedFileAccess.Read);
            _view = _map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* pointer = null;
            _view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            Pointer = pointer + _view.PointerOffset;
        }

        public byte* Pointer { get; }

        public long Length { get; }

        public void Dispose()
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
            _map.Dispose();
        }
    }

    /// <summary>The manifest's pack record, sections and tensors must be exactly what the header and table say.</summary>
    private void CheckAgainstManifest(PackHeader header)
    {
        var pack = Manifest.Pack;
        if (pack.FileBytes != header.FileLength || pack.PayloadBytes != header.PayloadLength || pack.PayloadChecksum != header.PayloadChecksum)
            throw new ModelFileException(PackPath, $"header (file {header.FileLength} bytes, payload {header.PayloadLength}, checksum {ManifestJson.FormatChecksum(header.PayloadChecksum)}) disagrees with the manifest's pack record");
        int expected = 0;
        void Expect(string name, PackDataType type, long offset, long length)
        {
            expected++;
            if (!_table.TryGetValue(name, out var entry))
                throw new ModelFileException(PackPath, $"tensor table has no entry '{name}', which the manifest lists");
            if (entry.DataType != type || entry.Offset != offset || entry.Length != length)
                throw new ModelFileException(PackPath, $"tensor '{name}' is {PackFormat.DataTypeName(entry.DataType)} at {entry.Offset}+{entry.Length} in the table but {PackFormat.DataTypeName(type)} at {offset}+{length} in the manifest");
        }
        foreach (var linear in Manifest.Linears)
            foreach (var section in linear.Sections)
                Expect(PackFormat.SectionTensorName(linear.Name, section.Name), PackDataType.Bytes, section.Offset, section.Length);
        foreach (var tensor in Manifest.Tensors) Expect(tensor.Name, tensor.DataType, tensor.Offset, tensor.Length);
        if (expected != Table.Count)
            throw new ModelFileException(PackPath, $"tensor table has {Table.Count} entries, the manifest accounts for {expected}");
    }

    private void VerifyPayloadChecksum(PackHeader header)
    {
        var hasher = new Xxh64();
        const int chunk = 1 << 30;
        for (long at = 0; at < header.PayloadLength; at += chunk)
            hasher.Append(new ReadOnlySpan<byte>(_base + header.PayloadOffset + at, (int)Math.Min(chunk, header.PayloadLength - at)));
        if (hasher.GetCurrentHash() != header.PayloadChecksum)
            throw new ModelFileException(PackPath, "payload checksum does not match: the tensor data is corrupted");
    }

    /// <summary>The bytes of a table tensor, straight from the mapping (no copy); valid until disposal.</summary>
    /// <exception cref="KeyNotFoundException">No tensor has that name.</exception>
    public ReadOnlySpan<byte> GetTensorBytes(string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var entry = _table.TryGetValue(name, out var e) ? e : throw new KeyNotFoundException($"tensor '{name}' is not in {PackPath}");
        if (entry.Length > int.MaxValue) throw new NotSupportedException($"tensor '{name}' has {entry.Length} bytes, more than one span can hold");
        return new ReadOnlySpan<byte>(_base + entry.Offset, (int)entry.Length);
    }

    /// <summary>A quantized linear as a <see cref="LinearPayload"/> (its sections copied out of the mapping).</summary>
    /// <exception cref="KeyNotFoundException">No linear has that name.</exception>
    public LinearPayload GetLinear(string name)
    {
        var record = _linears.TryGetValue(name, out var r) ? r : throw new KeyNotFoundException($"linear '{name}' is not in {PackPath}");
        var sections = record.Sections
            .Select(s => new PayloadSection(s.Name, GetTensorBytes(PackFormat.SectionTensorName(name, s.Name)).ToArray()))
            .ToList();
        return new LinearPayload(record.Layout, record.Rows, record.Cols, record.Parameters, sections);
    }

    /// <summary>An f16 or f32 tensor converted to a new FP32 array.</summary>
    /// <exception cref="KeyNotFoundException">No float tensor has that name.</exception>
    public float[] ReadFloats(string name)
    {
        var record = _tensors.TryGetValue(name, out var r) && r.DataType != PackDataType.Bytes ? r
            : throw new KeyNotFoundException($"float tensor '{name}' is not in {PackPath}");
        var bytes = GetTensorBytes(name);
        var result = new float[checked((int)record.ElementCount)];
        if (record.DataType == PackDataType.Float16) TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(bytes), result);
        else MemoryMarshal.Cast<byte, float>(bytes).CopyTo(result);
        return result;
    }

    /// <summary>The embedded tokenizer.json, as written.</summary>
    public byte[] ReadTokenizerJson() => GetTensorBytes(Manifest.TokenizerTensor).ToArray();

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _memory.Dispose();
    }
}
