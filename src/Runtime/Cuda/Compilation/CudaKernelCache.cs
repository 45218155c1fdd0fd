using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using SagePtq.Runtime.Cuda.Interop;

namespace SagePtq.Runtime.Cuda.Compilation;

/// <summary>
/// An on-disk cache of compiled CUDA modules, so each kernel source is compiled once per machine,
/// architecture and compiler. An entry is <c>{directory}/{key}.cubin</c> where the key is
/// <c>{sm_XY}-{compiler version}-{SHA-256 of the source, every header (name and text) and the options}</c>.
/// Each file starts with a small header (magic, format, payload length, payload SHA-256, key hash), is
/// written to a temporary file and renamed into place (so a reader sees a whole entry or none), and is
/// checked on every read: a short, corrupt or foreign entry is recompiled with a message, never loaded.
/// </summary>
public sealed class CudaKernelCache
{
    /// <summary>The environment variable that overrides <see cref="DefaultDirectory"/>.</summary>
    public const string DirectoryVariable = "SAGEPTQ_CUDA_CACHE";

    private const int FormatVersion = 1;
    private const int HeaderBytes = 8 + 4 + 8 + 32 + 32;
    private static ReadOnlySpan<byte> Magic => "SPTQCUBN"u8;

    private readonly ICudaCompiler compiler;
    private readonly TextWriter log;
    private int hits;
    private int compiles;

    /// <summary>Creates a cache over <paramref name="directory"/> (created when missing; a folder that cannot be created or written only disables caching, with a message).</summary>
    /// <param name="compiler">Compiles a source on a miss (<see cref="NvrtcCompiler.Instance"/> in production).</param>
    /// <param name="directory">The cache folder; null = <see cref="DefaultDirectory"/>.</param>
    /// <param name="log">Where messages about corrupt or unwritable entries go; null = standard error.</param>
    public CudaKernelCache(ICudaCompiler compiler, string? directory = null, TextWriter? log = null)
    {
        ArgumentNullException.ThrowIfNull(compiler);
        this.compiler = compiler;
        this.log = log ?? Console.Error;
        Directory = Path.GetFullPath(directory ?? DefaultDirectory());
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Not fatal: every request then compiles, and each failed write says so.
            this.log.WriteLine($"CUDA kernel cache: cannot create {Directory} ({e.Message}); kernels will not be cached");
        }
    }

    /// <summary>The cache folder.</summary>
    public string Directory { get; }

    /// <summary>Requests answered from disk by this instance.</summary>
    public int Hits => Volatile.Read(ref hits);

    /// <summary>Requests this instance compiled (misses and corrupt entries).</summary>
    public int Compiles => Volatile.Read(ref compiles);

    /// <summary><c>$SAGEPTQ_CUDA_CACHE</c> when set, else the OS local application data folder's <c>sageptq/cuda-cache</c>.</summary>
    public static string DefaultDirectory()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable(DirectoryVariable);
        if (!string.IsNullOrWhiteSpace(fromEnvironment)) return fromEnvironment;
        var appData = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify);
        if (string.IsNullOrEmpty(appData)) appData = Path.GetTempPath(); // no home folder (a service account)
        return Path.Combine(appData, "sageptq", "cuda-cache");
    }

    /// <summary>The cache key of <paramref name="request"/> for this cache's compiler.</summary>
    public string KeyOf(CudaCompileRequest request) => Key(request, compiler.Version);

    /// <summary>The entry file for <paramref name="request"/>.</summary>
    public string PathOf(CudaCompileRequest request) => Path.Combine(Directory, KeyOf(request) + ".cubin");

    /// <summary>
    /// The key of <paramref name="request"/> compiled by <paramref name="compilerVersion"/>:
    /// <c>{sm_XY}-{version}-{64 hex digits}</c>, the digits hashing the source, the headers (in ordinal order of
    /// their names), the options (in order), the architecture and the version, each length-prefixed so no two
    /// different inputs run together into the same bytes. The request's name is not part of it: the same source
    /// under two names compiles to the same module.
    /// </summary>
    public static string Key(CudaCompileRequest request, string compilerVersion)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentException.ThrowIfNullOrWhiteSpace(compilerVersion);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Append(hash, "format", FormatVersion.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Append(hash, "compiler", compilerVersion);
        Append(hash, "arch", request.Architecture);
        Append(hash, "source", request.Source);
        foreach (var (include, text) in request.Headers)
        {
            Append(hash, "header", include);
            Append(hash, "header-text", text);
        }
        foreach (var option in request.ExtraOptions) Append(hash, "option", option);
        return $"{request.Architecture}-{FileNameSafe(compilerVersion)}-{Convert.ToHexStringLower(hash.GetHashAndReset())}";
    }

    /// <summary>The CUBIN for <paramref name="request"/>: read from its entry when that is intact, else compiled and stored.</summary>
    /// <exception cref="CudaCompileException">The source does not compile (nothing is stored).</exception>
    public byte[] GetOrCompile(CudaCompileRequest request) => GetOrCompile(request, out _);

    /// <summary>As <see cref="GetOrCompile(CudaCompileRequest)"/>, saying whether the image came from disk.</summary>
    public byte[] GetOrCompile(CudaCompileRequest request, out bool fromCache)
    {
        ArgumentNullException.ThrowIfNull(request);
        var key = KeyOf(request);
        var path = Path.Combine(Directory, key + ".cubin");
        var cached = TryRead(path, key, request.Name);
        fromCache = cached is not null;
        if (cached is not null)
        {
            Interlocked.Increment(ref hits);
            return cached;
        }
        return CompileAndStore(request, path, key);
    }

    /// <summary>
    /// Loads <paramref name="request"/>'s module on <paramref name="device"/> through the cache. If the driver
    /// rejects a cached image (an intact file the driver cannot use, e.g. after a driver change), the entry is
    /// recompiled once, with a message, and the fresh image loaded; a fresh image the driver rejects throws.
    /// </summary>
    public CudaModule Load(CudaDevice device, CudaCompileRequest request)
    {
        ArgumentNullException.ThrowIfNull(device);
        var image = GetOrCompile(request, out var fromCache);
        try
        {
            return device.LoadCubin(image);
        }
        catch (CudaException e) when (fromCache && e.Result is CudaResult.InvalidImage or CudaResult.NoBinaryForGpu
                                          or CudaResult.InvalidPtx or CudaResult.UnsupportedPtxVersion)
        {
            var key = KeyOf(request);
            var path = Path.Combine(Directory, key + ".cubin");
            log.WriteLine($"CUDA kernel cache: the driver rejected {path} ({e.ErrorName}); recompiling {request.Name}");
            return device.LoadCubin(CompileAndStore(request, path, key));
        }
    }

    private byte[] CompileAndStore(CudaCompileRequest request, string path, string key)
    {
        var image = compiler.Compile(request);
        if (image is null || image.Length == 0) throw new InvalidOperationException($"the compiler returned no image for {request.Name}");
        Interlocked.Increment(ref compiles);
        TryWrite(path, key, image);
        return image;
    }

    /// <summary>
    /// Reads and checks an entry: null when absent, or (after a message) when short, corrupt or written for another key.
    /// </summary>
    internal byte[]? TryRead(string path, string key, string sourceName)
    {
        byte[] file;
        try
        {
            file = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.WriteLine($"CUDA kernel cache: cannot read {path} ({e.Message}); recompiling {sourceName}");
            return null;
        }
        var problem = Problem(file, key, out var payload);
        if (problem is null) return payload;
        log.WriteLine($"CUDA kernel cache: {path} is corrupt ({problem}); recompiling {sourceName}");
        return null;
    }

    /// <summary>What is wrong with an entry's bytes, or null (and the payload) when it is intact.</summary>
    internal static string? Problem(byte[] file, string key, out byte[]? payload)
    {
        payload = null;
        if (file.Length < HeaderBytes) return $"{file.Length} bytes, shorter than the {HeaderBytes}-byte header";
        var span = file.AsSpan();
        if (!span[..8].SequenceEqual(Magic)) return "not a SagePtq kernel cache entry";
        var format = BinaryPrimitives.ReadInt32LittleEndian(span[8..]);
        if (format != FormatVersion) return $"format {format}, expected {FormatVersion}";
        var length = BinaryPrimitives.ReadInt64LittleEndian(span[12..]);
        if (length != file.Length - HeaderBytes) return $"header says {length} payload bytes, the file holds {file.Length - HeaderBytes}";
        var body = span[HeaderBytes..];
        if (!span.Slice(20, 32).SequenceEqual(SHA256.HashData(body))) return "payload checksum mismatch";
        if (!span.Slice(52, 32).SequenceEqual(SHA256.HashData(Encoding.UTF8.GetBytes(key)))) return "written for another key";
        payload = body.ToArray();
        return null;
    }

    /// <summary>The bytes of an entry holding <paramref name="payload"/> under <paramref name="key"/>.</summary>
    internal static byte[] Entry(string key, ReadOnlySpan<byte> payload)
    {
        var file = new byte[HeaderBytes + payload.Length];
        var span = file.AsSpan();
        Magic.CopyTo(span);
        BinaryPrimitives.WriteInt32LittleEndian(span[8..], FormatVersion);
        BinaryPrimitives.WriteInt64LittleEndian(span[12..], payload.Length);
        SHA256.HashData(payload, span.Slice(20, 32));
        SHA256.HashData(Encoding.UTF8.GetBytes(key), span.Slice(52, 32));
        payload.CopyTo(span[HeaderBytes..]);
        return file;
    }

    private void TryWrite(string path, string key, byte[] image)
    {
        // A unique temporary name per writer, then an atomic rename: concurrent writers of one key each
        // replace the entry with a whole (identical) file, and readers never see a partial one.
        var temporary = Path.Combine(Directory, $"{key}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                stream.Write(Entry(key, image));
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.WriteLine($"CUDA kernel cache: cannot write {path} ({e.Message}); the module is used without caching");
            try { File.Delete(temporary); } catch (Exception cleanup) when (cleanup is IOException or UnauthorizedAccessException) { }
        }
    }

    private static void Append(IncrementalHash hash, string label, string value)
    {
        Span<byte> length = stackalloc byte[8];
        var labelBytes = Encoding.UTF8.GetBytes(label);
        var valueBytes = Encoding.UTF8.GetBytes(value);
        BinaryPrimitives.WriteInt64LittleEndian(length, labelBytes.Length);
        hash.AppendData(length);
        hash.AppendData(labelBytes);
        BinaryPrimitives.WriteInt64LittleEndian(length, valueBytes.Length);
        hash.AppendData(length);
        hash.AppendData(valueBytes);
    }

    private static string FileNameSafe(string text)
    {
        var safe = new StringBuilder(text.Length);
        foreach (var c in text) safe.Append(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' ? c : '_');
        return safe.ToString();
    }
}
