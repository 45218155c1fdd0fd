using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using SagePtq.Runtime.Checkpoints;

namespace SagePtq.Runtime.Packing;

/// <summary>
/// Writes <c>model.sagepack</c> and <c>model.manifest.json</c> into a folder. Tensors are streamed to a
/// temporary file in that folder as they are added (so a quantizer can drop each linear once it is
/// written), the payload checksum is computed on the way, and <see cref="Commit"/> finishes both files
/// and renames them into place: the pack first, the manifest last, so the manifest's appearance is
/// the commit point (docs/pack-format.md, "Atomic write"). Disposing an uncommitted writer, or any
/// failure, deletes the temporary files and leaves the folder as it was.
/// Output is byte-identical for identical inputs added in the same order: no timestamps, no randomness.
/// </summary>
public sealed class PackWriter : IDisposable
{
    private const int ConvertChunk = 1 << 16;

    private readonly string _directory;
    private readonly ModelConfig _config;
    private readonly string _method;
    private readonly SortedDictionary<string, string> _options;
    private readonly PackDataType _floatType;
    private readonly string _packTemp;
    private readonly string _manifestTemp;
    private readonly FileStream _pack;
    private readonly Xxh64 _payloadHash = new();
    private readonly List<PackTableEntry> _table = [];
    private readonly List<LinearRecord> _linears = [];
    private readonly List<TensorRecord> _tensors = [];
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private long _position = PackFormat.HeaderBytes;
    private bool _committed;
    private bool _disposed;

    private PackWriter(string directory, ModelConfig config, string method, SortedDictionary<string, string> options, PackDataType floatType, string tempTag, FileStream pack)
    {
        _directory = directory;
        _config = config;
        _method = method;
        _options = options;
        _floatType = floatType;
        _packTemp = TempPath(directory, PackFormat.PackFileName, tempTag);
        _manifestTemp = TempPath(directory, PackFormat.ManifestFileName, tempTag);
        _pack = pack;
    }

    /// <summary>The folder the pack is written to.</summary>
    public string Directory => _directory;

    /// <summary>
    /// Starts a pack in <paramref name="directory"/> (created if needed) and writes the tokenizer.json
    /// bytes as its first tensor.
    /// </summary>
    /// <param name="floatTensorType">How <see cref="AddTensor"/> stores floats: <see cref="PackDataType.Float16"/> (default, DESIGN.md §3) or <see cref="PackDataType.Float32"/>.</param>
    /// <exception cref="ModelFileException">The folder cannot be created or written.</exception>
    public static PackWriter Create(
        string directory, ModelConfig config, ReadOnlySpan<byte> tokenizerJson, string method,
        IReadOnlyDictionary<string, string>? options = null, PackDataType floatTensorType = PackDataType.Float16)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentException.ThrowIfNullOrEmpty(method);
        if (tokenizerJson.IsEmpty) throw new ArgumentException("tokenizer.json bytes are empty", nameof(tokenizerJson));
        if (floatTensorType is not (PackDataType.Float16 or PackDataType.Float32))
            throw new ArgumentException($"float tensors are stored as f16 or f32, not {floatTensorType}", nameof(floatTensorType));
        var sortedOptions = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in options ?? new Dictionary<string, string>())
        {
            ArgumentException.ThrowIfNullOrEmpty(key, nameof(options));
            sortedOptions[key] = value ?? throw new ArgumentException($"option '{key}' has no value", nameof(options));
        }

        string fullDirectory = Path.GetFullPath(directory);
        string tempTag = Guid.NewGuid().ToString("N");   // unique per writer, so concurrent writers never share a temporary
        string packTemp = TempPath(fullDirectory, PackFormat.PackFileName, tempTag);
        FileStream stream;
        try
        {
            System.IO.Directory.CreateDirectory(fullDirectory);
            stream = new FileStream(packTemp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 20);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelFileException(fullDirectory, $"output folder cannot be written: {e.Message}", e);
        }

        var writer = new PackWriter(fullDirectory, config, method, sortedOptions, floatTensorType, tempTag, stream);
        try
        {
            stream.Write(new byte[PackFormat.HeaderBytes]);   // the real header is written by Commit
            writer.ClaimName(PackFormat.TokenizerTensorName);
            writer.AppendTensor(PackFormat.TokenizerTensorName, PackDataType.Bytes, tokenizerJson);
            writer._tensors.Add(new TensorRecord(PackFormat.TokenizerTensorName, PackDataType.Bytes, [tokenizerJson.Length], writer._table[^1].Offset, tokenizerJson.Length));
            return writer;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            writer.Dispose();
            throw new ModelFileException(fullDirectory, $"output folder cannot be written: {e.Message}", e);
        }
        catch
        {
            writer.Dispose();
            throw;
        }
    }

    /// <summary>Writes a whole pack from in-memory contents in one call, in a fixed order (see <see cref="PackContents"/>).</summary>
    public static PackManifest Write(string directory, PackContents contents, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(contents);
        using var writer = Create(directory, contents.Config, contents.TokenizerJson, contents.Method, contents.MethodOptions, contents.FloatTensorType);
        foreach (var (name, tensor) in contents.Tensors.OrderBy(t => t.Key, CanonicalOrder))
        {
            cancellationToken.ThrowIfCancellationRequested();
            writer.AddTensor(name, tensor.Data, tensor.Shape);
        }
        foreach (var (name, linear) in contents.Linears.OrderBy(l => l.Key, CanonicalOrder))
        {
            cancellationToken.ThrowIfCancellationRequested();
            writer.AddLinear(name, linear.Payload, linear.Stats);
        }
        return writer.Commit(cancellationToken);
    }

    /// <summary>
    /// The order <see cref="Write"/> adds tensors and linears in: non-layer names first by name, then layers
    /// in numeric order (so layer 10 follows layer 9), by name within a layer. A caller that streams with
    /// <see cref="AddTensor(string, float[], IReadOnlyList{long})"/> and <see cref="AddLinear"/> in this order
    /// writes the same bytes as <see cref="Write"/>.
    /// </summary>
    public static IComparer<string> CanonicalOrder { get; } = Comparer<string>.Create(
        (a, b) => Comparer<(int, string)>.Default.Compare(CanonicalKey(a), CanonicalKey(b)));

    private static (int, string) CanonicalKey(string name) => (LinearRecord.LayerOf(name) is int layer ? layer + 1 : 0, name);

    /// <summary>Writes one quantized linear: each section as tensor <c>{name}/{section}</c>, and its manifest record.</summary>
    /// <exception cref="ArgumentException">Repeated or empty names, a bad shape, or statistics that are not finite.</exception>
    public void AddLinear(string name, LinearPayload payload, LinearStats stats)
    {
        ThrowIfClosed();
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(payload);
        ArgumentNullException.ThrowIfNull(stats);
        if (payload.Rows <= 0 || payload.Cols <= 0) throw new ArgumentException($"linear {name} has shape [{payload.Rows}, {payload.Cols}]", nameof(payload));
        if (string.IsNullOrEmpty(payload.Layout)) throw new ArgumentException($"linear {name} has no layout name", nameof(payload));
        if (!double.IsFinite(stats.SaliencyRatio) || !double.IsFinite(stats.PaperBitsPerWeight))
            throw new ArgumentException($"linear {name} has statistics that are not finite numbers", nameof(stats));
        var sectionNames = payload.Sections.Select(s => s.Name).ToList();
        if (sectionNames.Any(string.IsNullOrEmpty) || sectionNames.Distinct(StringComparer.Ordinal).Count() != sectionNames.Count)
            throw new ArgumentException($"linear {name} has an empty or repeated section name", nameof(payload));
        ClaimName(name);
        foreach (var section in payload.Sections) ClaimName(PackFormat.SectionTensorName(name, section.Name));

        var sections = new List<SectionRecord>(payload.Sections.Count);
        foreach (var section in payload.Sections)
        {
            AppendTensor(PackFormat.SectionTensorName(name, section.Name), PackDataType.Bytes, section.Bytes);
            sections.Add(new SectionRecord(section.Name, _table[^1].Offset, section.Bytes.Length));
        }
        _linears.Add(new LinearRecord(name, LinearRecord.LayerOf(name), payload.Rows, payload.Cols, payload.Layout,
            new SortedDictionary<string, int>(payload.Parameters.ToDictionary(), StringComparer.Ordinal), sections, stats));
    }

    /// <summary>Writes one unquantized tensor (embedding, norm, LM head), stored as the writer's float type.</summary>
    /// <exception cref="ArgumentException">A repeated name, or a shape that does not match the data.</exception>
    public void AddTensor(string name, float[] data, IReadOnlyList<long> shape)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Count == 0 || shape.Any(d => d <= 0) || shape.Aggregate(1L, (a, b) => a * b) != data.Length)
            throw new ArgumentException($"tensor {name} has {data.Length} values, shape [{string.Join(", ", shape)}] says otherwise", nameof(shape));
        AddTensor(name, shape, (start, destination) => data.AsSpan((int)start, destination.Length).CopyTo(destination));
    }

    /// <summary>
    /// Writes one unquantized tensor read a chunk at a time, so that a large one (a 7B model's embedding)
    /// never needs a whole FP32 copy in memory: <paramref name="read"/> fills its span with the elements
    /// that start at the given row-major index. Same bytes as the array overload for the same values.
    /// </summary>
    /// <exception cref="ArgumentException">A repeated name, or a shape with no elements.</exception>
    public void AddTensor(string name, IReadOnlyList<long> shape, Action<long, Span<float>> read)
    {
        ThrowIfClosed();
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(read);
        if (shape.Count == 0 || shape.Any(d => d <= 0))
            throw new ArgumentException($"tensor {name} has shape [{string.Join(", ", shape)}]: every dimension must be positive", nameof(shape));
        long elements = shape.Aggregate(1L, (a, b) => a * b);
        ClaimName(name);

        long offset = BeginTensor();
        int elementBytes = PackFormat.ElementBytes(_floatType);
        var floats = new float[(int)Math.Min(ConvertChunk, elements)];
        var halves = _floatType == PackDataType.Float16 ? new Half[floats.Length] : [];
        for (long start = 0; start < elements; start += ConvertChunk)
        {
            int count = (int)Math.Min(ConvertChunk, elements - start);
            read(start, floats.AsSpan(0, count));
            if (_floatType == PackDataType.Float32)
                WritePayload(MemoryMarshal.AsBytes(floats.AsSpan(0, count)));
            else
            {
                TensorPrimitives.ConvertToHalf(floats.AsSpan(0, count), halves.AsSpan(0, count));
                WritePayload(MemoryMarshal.AsBytes(halves.AsSpan(0, count)));
            }
        }
        long length = elements * elementBytes;
        _table.Add(new PackTableEntry(name, _floatType, offset, length));
        _tensors.Add(new TensorRecord(name, _floatType, shape.ToArray(), offset, length));
    }

    /// <summary>
    /// Finishes the pack (table, header with the manifest hash), writes the manifest, flushes both to
    /// disk and renames them into place, pack first and manifest last.
    /// </summary>
    /// <returns>The manifest as written.</returns>
    /// <exception cref="OperationCanceledException">Cancelled before the renames; nothing is left behind.</exception>
    public PackManifest Commit(CancellationToken cancellationToken = default)
    {
        ThrowIfClosed();
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            long payloadLength = PadTo(PackFormat.AlignUp(_position)) - PackFormat.HeaderBytes;
            ulong payloadChecksum = _payloadHash.GetCurrentHash();
            byte[] table = PackTableEntry.Serialize(_table);
            _pack.Write(table);
            long fileLength = _position + table.Length;

            var manifest = new PackManifest
            {
                Architecture = _config,
                TokenizerTensor = PackFormat.TokenizerTensorName,
                Method = _method,
                MethodOptions = _options,
                Pack = new PackFileRecord(PackFormat.PackFileName, fileLength, payloadLength, payloadChecksum),
                Linears = _linears,
                Tensors = _tensors,
            };
            byte[] manifestBytes = ManifestJson.Serialize(manifest);

            var header = new PackHeader(PackFormat.FormatVersion, 0, SHA256.HashData(manifestBytes),
                PackFormat.HeaderBytes, payloadLength, payloadChecksum, _position, table.Length, _table.Count, Xxh64.Hash(table));
            var headerBytes = new byte[PackFormat.HeaderBytes];
            header.WriteTo(headerBytes);
            _pack.Position = 0;
            _pack.Write(headerBytes);
            _pack.Flush(flushToDisk: true);
            _pack.Dispose();

            using (var manifestFile = new FileStream(_manifestTemp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                manifestFile.Write(manifestBytes);
                manifestFile.Flush(flushToDisk: true);
            }

            cancellationToken.ThrowIfCancellationRequested();
            File.Move(_packTemp, Path.Combine(_directory, PackFormat.PackFileName), overwrite: true);
            File.Move(_manifestTemp, Path.Combine(_directory, PackFormat.ManifestFileName), overwrite: true);
            _committed = true;
            return manifest;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelFileException(_directory, $"pack could not be written: {e.Message}", e);
        }
        finally
        {
            Dispose();
        }
    }

    /// <summary>Closes the writer; if <see cref="Commit"/> did not complete, deletes the temporary files.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _pack.Dispose();
        if (!_committed)
        {
            TryDelete(_packTemp);
            TryDelete(_manifestTemp);
        }
    }

    /// <summary>A hidden temporary beside the final file: <c>.model.sagepack.{tag}.tmp</c>.</summary>
    private static string TempPath(string directory, string fileName, string tag) => Path.Combine(directory, $".{fileName}.{tag}.tmp");

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private void ThrowIfClosed() => ObjectDisposedException.ThrowIf(_disposed, this);

    private void ClaimName(string name)
    {
        if (name.Length > PackTableEntry.MaxNameBytes / 4 || name.Contains('\0'))
            throw new ArgumentException($"tensor name '{name}' is too long or contains NUL", nameof(name));
        if (_names.Contains(name)) throw new ArgumentException($"tensor or linear '{name}' is already in the pack", nameof(name));
        _names.Add(name);
    }

    private void AppendTensor(string name, PackDataType type, ReadOnlySpan<byte> bytes)
    {
        long offset = BeginTensor();
        WritePayload(bytes);
        _table.Add(new PackTableEntry(name, type, offset, bytes.Length));
    }

    /// <summary>Pads to the next aligned offset and returns it: where the next tensor starts.</summary>
    private long BeginTensor() => PadTo(PackFormat.AlignUp(_position));

    private long PadTo(long target)
    {
        Span<byte> zeros = stackalloc byte[PackFormat.Alignment];
        zeros.Clear();
        WritePayload(zeros[..(int)(target - _position)]);
        return target;
    }

    private void WritePayload(ReadOnlySpan<byte> bytes)
    {
        _pack.Write(bytes);
        _payloadHash.Append(bytes);
        _position += bytes.Length;
    }
}

/// <summary>A whole pack's contents in memory, for <see cref="PackWriter.Write"/>.</summary>
public sealed record PackContents
{
    public required ModelConfig Config { get; init; }
    public required byte[] TokenizerJson { get; init; }
    public required string Method { get; init; }
    public IReadOnlyDictionary<string, string> MethodOptions { get; init; } = new Dictionary<string, string>();

    /// <summary>Unquantized tensors by checkpoint name (embedding, norms, LM head).</summary>
    public required IReadOnlyDictionary<string, (float[] Data, long[] Shape)> Tensors { get; init; }

    /// <summary>Quantized linears by checkpoint name.</summary>
    public required IReadOnlyDictionary<string, (LinearPayload Payload, LinearStats Stats)> Linears { get; init; }

    public PackDataType FloatTensorType { get; init; } = PackDataType.Float16;
}
