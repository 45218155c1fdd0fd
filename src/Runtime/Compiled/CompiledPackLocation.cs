using System.Reflection;
using System.Runtime.InteropServices;
using SagePtq.Runtime.Packing;

namespace SagePtq.Runtime.Compiled;

/// <summary>
/// Where the build put a generated model's pack, which the runtime reads in place:
/// <list type="bullet">
/// <item><b>Copy</b>: <c>{assembly folder}/sageptq/{model ID}/model.sagepack</c> and <c>model.manifest.json</c>
/// beside it, memory-mapped (large models);</item>
/// <item><b>Embed</b>: manifest resources <c>SagePtq/{model ID}/model.sagepack</c> and
/// <c>SagePtq/{model ID}/model.manifest.json</c> of the assembly, read where the loader mapped the assembly.</item>
/// </list>
/// Files beside the assembly win, so a pack can be replaced without rebuilding only if its manifest
/// hash still matches the generated code (which it will not: the check then says "rebuild").
/// </summary>
public sealed unsafe class CompiledPackLocation
{
    private readonly Func<PackReadOptions, PackedModel> _open;

    private CompiledPackLocation(string manifestName, byte[] manifestBytes, Func<PackReadOptions, PackedModel> open)
    {
        ManifestName = manifestName;
        ManifestBytes = manifestBytes;
        _open = open;
    }

    /// <summary>The folder beside the assembly that holds a copied pack.</summary>
    public static string CopiedFolder(string assemblyDirectory, string modelId) => Path.Combine(assemblyDirectory, "sageptq", modelId);

    /// <summary>The manifest resource name of an embedded pack file (<c>model.sagepack</c> or <c>model.manifest.json</c>).</summary>
    public static string ResourceName(string modelId, string fileName) => $"SagePtq/{modelId}/{fileName}";

    /// <summary>The manifest's path or resource name, for messages.</summary>
    public string ManifestName { get; }

    /// <summary>The manifest's exact bytes (hashed against the generated code).</summary>
    public byte[] ManifestBytes { get; }

    /// <summary>Finds the pack of <paramref name="modelId"/> for <paramref name="assembly"/>, beside it first, then inside it.</summary>
    /// <exception cref="ModelFileException">Neither is present.</exception>
    public static CompiledPackLocation Find(Assembly assembly, string modelId)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        ArgumentException.ThrowIfNullOrEmpty(modelId);
        string? assemblyDirectory = string.IsNullOrEmpty(assembly.Location) ? AppContext.BaseDirectory : Path.GetDirectoryName(assembly.Location);
        string folder = CopiedFolder(assemblyDirectory ?? AppContext.BaseDirectory, modelId);
        string manifestPath = Path.Combine(folder, PackFormat.ManifestFileName);
        if (File.Exists(manifestPath))
            return new CompiledPackLocation(manifestPath, File.ReadAllBytes(manifestPath), options => PackedModel.Open(folder, options));

        string manifestResource = ResourceName(modelId, PackFormat.ManifestFileName);
        string packResource = ResourceName(modelId, PackFormat.PackFileName);
        using var manifestStream = assembly.GetManifestResourceStream(manifestResource);
        if (manifestStream is null)
            throw new ModelFileException(manifestPath,
                $"not found, and {assembly.GetName().Name} has no embedded resource {manifestResource}: the build that generated the model class did not deliver its pack (was it built with the SagePtq package, and copied with its 'sageptq' folder?)");
        var manifestBytes = new byte[manifestStream.Length];
        manifestStream.ReadExactly(manifestBytes);
        string displayName = $"{assembly.GetName().Name}!{manifestResource}";
        return new CompiledPackLocation(displayName, manifestBytes, options => OpenEmbedded(assembly, packResource, manifestBytes, displayName, options));
    }

    /// <summary>Opens and validates the pack (<see cref="PackedModel.Open"/>'s checks).</summary>
    public PackedModel Open(PackReadOptions options) => _open(options);

    private static PackedModel OpenEmbedded(Assembly assembly, string packResource, byte[] manifestBytes, string manifestName, PackReadOptions options)
    {
        string packName = $"{assembly.GetName().Name}!{packResource}";
        var stream = assembly.GetManifestResourceStream(packResource)
            ?? throw new ModelFileException(packName, "embedded resource not found beside its manifest");
        if (stream is UnmanagedMemoryStream mapped)
        {
            // An assembly loaded from a file is mapped by the loader: the resource is read where it lies.
            return PackedModel.OpenMemory(mapped.PositionPointer, mapped.Length, manifestBytes, packName, manifestName, mapped, options);
        }
        // Loaded from bytes (no mapping to point into): one copy into native memory, aligned as the file would be.
        var copy = new NativeCopy(stream);
        return PackedModel.OpenMemory(copy.Pointer, copy.Length, manifestBytes, packName, manifestName, copy, options);
    }

    /// <summary>A stream's bytes in 64-byte-aligned native memory.</summary>
    private sealed class NativeCopy : IDisposable
    {
        public NativeCopy(Stream stream)
        {
            using (stream)
            {
                Length = stream.Length;
                Pointer = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(1, Length), 64);
                stream.ReadExactly(new Span<byte>(Pointer, checked((int)Length)));
            }
        }

        public byte* Pointer { get; }

        public long Length { get; }

        public void Dispose() => NativeMemory.AlignedFree(Pointer);
    }
}
