using System.Runtime.InteropServices;
using SagePtq.Tests;

namespace SagePtq.Cuda.Tests;

/// <summary>
/// A C++ source that includes sageptq.cuh, compiled for the CPU with clang++-14 and the host prelude into a
/// temporary shared library and loaded, so that the header's __host__ __device__ math can be called from C#.
/// </summary>
internal sealed class NativeHarness : IDisposable
{
    private readonly TempDir _directory = TestAssets.NewTempDir();
    private readonly nint _library;

    /// <summary>
    /// Compiles <paramref name="source"/> with the host prelude (the header's host math), or with
    /// <paramref name="emulate"/> with the tests' CUDA emulator (the header's GPU side on host threads).
    /// </summary>
    public NativeHarness(string source, bool emulate = false)
    {
        string compiler = Clang.CxxCompiler ?? throw new InvalidOperationException(Clang.Missing);
        string file = _directory.File("harness.cpp"), library = _directory.File("libharness.so");
        File.WriteAllText(file, source);
        string[] prelude = emulate
            ? ["-std=c++20", "-DSAGEPTQ_EMULATE", "-pthread", "-include", Path.Combine(EmulatorDir, "cuda_emulator.h")]
            : ["-std=c++17", "-include", Path.Combine(Clang.TemplateDir, "host_prelude.h")];
        var (exitCode, output) = Clang.Run(compiler,
        [
            "-x", "c++", .. prelude, "-O0", "-shared", "-fPIC", "-Wall", "-Werror", "-I", Clang.TemplateDir, "-o", library, file,
        ]);
        if (exitCode != 0) throw new InvalidOperationException($"clang++-14 failed on the harness:\n{output}");
        _library = NativeLibrary.Load(library);
    }

    /// <summary>tests/SagePtq.Cuda.Tests/Emulator in the repository.</summary>
    public static string EmulatorDir => Path.Combine(TestAssets.RepoRoot, "tests", "SagePtq.Cuda.Tests", "Emulator");

    /// <summary>The address of an <c>extern "C"</c> function of the harness.</summary>
    public nint Export(string name) => NativeLibrary.GetExport(_library, name);

    public void Dispose()
    {
        NativeLibrary.Free(_library);
        _directory.Dispose();
    }
}

/// <summary>
/// The sections of a payload copied to native memory for the duration of native calls, each at a 16-byte
/// boundary as the device upload puts them (the 16-byte load paths need it), or, with <c>misalign</c>, 4 bytes
/// past one, so that the kernels' fallbacks for other addresses run.
/// </summary>
internal sealed unsafe class PinnedSections : IDisposable
{
    private readonly List<nint> _blocks = [];

    /// <summary>SAGEPTQ_MAX_SECTIONS pointers and lengths, null and 0 past the last section.</summary>
    public nint[] Pointers { get; } = new nint[10];

    public long[] Lengths { get; } = new long[10];

    public PinnedSections(IReadOnlyList<byte[]> sections, bool misalign = false)
    {
        if (sections.Count > Pointers.Length) throw new ArgumentException($"{sections.Count} sections, the header takes at most {Pointers.Length}");
        int shift = misalign ? 4 : 0;
        for (int k = 0; k < sections.Count; k++)
        {
            // An empty section still needs a non-null address (the header tells absent sections by null).
            var block = (byte*)NativeMemory.AlignedAlloc((nuint)(shift + Math.Max(sections[k].Length, 1)), 16);
            _blocks.Add((nint)block);
            sections[k].CopyTo(new Span<byte>(block + shift, sections[k].Length));
            Pointers[k] = (nint)(block + shift);
            Lengths[k] = sections[k].Length;
        }
    }

    public void Dispose()
    {
        foreach (var block in _blocks) NativeMemory.AlignedFree((void*)block);
    }
}
