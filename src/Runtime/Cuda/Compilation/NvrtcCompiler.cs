using System.Runtime.InteropServices;
using System.Text;
using SagePtq.Runtime.Cuda.Interop;

namespace SagePtq.Runtime.Cuda.Compilation;

/// <summary>
/// Compiles CUDA C++ with NVRTC to a CUBIN for one real architecture. Options: <c>--gpu-arch=sm_XY</c>,
/// <c>-default-device</c> (functions without an execution space are device functions), <c>-std=c++17</c>,
/// then the caller's extra options (<c>--use_fast_math</c> only when asked for there).
/// </summary>
public sealed unsafe class NvrtcCompiler : ICudaCompiler
{
    /// <summary>The compiler of this process's NVRTC library (check <see cref="CudaAvailability"/> first).</summary>
    public static NvrtcCompiler Instance { get; } = new();

    private readonly Lazy<string> version = new(() =>
    {
        int major, minor;
        Nvrtc.Check(Nvrtc.nvrtcVersion(&major, &minor), nameof(Nvrtc.nvrtcVersion));
        return $"nvrtc-{major}.{minor}";
    });

    private NvrtcCompiler()
    {
    }

    /// <inheritdoc/>
    public string Version => version.Value;

    /// <summary>The options passed to NVRTC for <paramref name="request"/>, defaults first.</summary>
    public static IReadOnlyList<string> OptionsFor(CudaCompileRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return [$"--gpu-arch={request.Architecture}", "-default-device", "-std=c++17", .. request.ExtraOptions];
    }

    /// <summary>Compiles <paramref name="source"/> to a CUBIN for compute capability <paramref name="computeMajor"/>.<paramref name="computeMinor"/>.</summary>
    /// <exception cref="CudaCompileException">The source did not compile (carries <paramref name="name"/> and the full log).</exception>
    public static byte[] Compile(string name, string source, IReadOnlyDictionary<string, string> headers,
        int computeMajor, int computeMinor, IEnumerable<string> extraOptions) =>
        CompileCubin(new CudaCompileRequest(name, source, headers, computeMajor, computeMinor, extraOptions));

    byte[] ICudaCompiler.Compile(CudaCompileRequest request) => CompileCubin(request);

    /// <summary>Compiles the request to a CUBIN.</summary>
    public static byte[] CompileCubin(CudaCompileRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Run(request, OptionsFor(request), cubin: true);
    }

    /// <summary>Compiles the request to PTX for the virtual architecture <c>compute_XY</c> (the driver finishes it on load).</summary>
    public static string CompilePtx(CudaCompileRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var options = OptionsFor(request).ToArray();
        options[0] = $"--gpu-arch=compute_{request.ComputeMajor}{request.ComputeMinor}";
        var bytes = Run(request, options, cubin: false);
        var end = Array.IndexOf(bytes, (byte)0); // NVRTC's PTX size counts the terminating NUL
        return Encoding.UTF8.GetString(bytes, 0, end >= 0 ? end : bytes.Length);
    }

    private static byte[] Run(CudaCompileRequest request, IReadOnlyList<string> options, bool cubin)
    {
        using var strings = new Utf8Strings([request.Source, request.Name, .. request.Headers.Values, .. request.Headers.Keys, .. options]);
        var headerCount = request.Headers.Count;
        nint program;
        Nvrtc.Check(Nvrtc.nvrtcCreateProgram(&program, strings[0], strings[1], headerCount,
            headerCount == 0 ? null : strings.At(2), headerCount == 0 ? null : strings.At(2 + headerCount)), nameof(Nvrtc.nvrtcCreateProgram));
        try
        {
            var result = Nvrtc.nvrtcCompileProgram(program, options.Count, strings.At(2 + 2 * headerCount));
            if (result == NvrtcResult.Compilation) throw new CudaCompileException(request.Name, request.Architecture, ReadLog(program));
            if (result != NvrtcResult.Success)
            {
                var error = CudaException.FromNvrtc(nameof(Nvrtc.nvrtcCompileProgram), result);
                throw new CudaCompileException(request.Name, request.Architecture, $"{error.ErrorName}: {error.ErrorDescription}{Environment.NewLine}{ReadLog(program)}");
            }
            nuint size;
            if (cubin) Nvrtc.Check(Nvrtc.nvrtcGetCUBINSize(program, &size), nameof(Nvrtc.nvrtcGetCUBINSize));
            else Nvrtc.Check(Nvrtc.nvrtcGetPTXSize(program, &size), nameof(Nvrtc.nvrtcGetPTXSize));
            if (size == 0) throw new CudaCompileException(request.Name, request.Architecture, "NVRTC produced an empty image");
            var image = new byte[(int)size];
            fixed (byte* output = image)
            {
                if (cubin) Nvrtc.Check(Nvrtc.nvrtcGetCUBIN(program, output), nameof(Nvrtc.nvrtcGetCUBIN));
                else Nvrtc.Check(Nvrtc.nvrtcGetPTX(program, output), nameof(Nvrtc.nvrtcGetPTX));
            }
            return image;
        }
        finally
        {
            Nvrtc.nvrtcDestroyProgram(&program);
        }
    }

    private static string ReadLog(nint program)
    {
        nuint size;
        if (Nvrtc.nvrtcGetProgramLogSize(program, &size) != NvrtcResult.Success || size <= 1) return "";
        var log = new byte[(int)size];
        fixed (byte* text = log)
            if (Nvrtc.nvrtcGetProgramLog(program, text) != NvrtcResult.Success) return "";
        return Encoding.UTF8.GetString(log, 0, log.Length - 1); // drop the terminating NUL
    }

    /// <summary>NUL-terminated UTF-8 copies of strings in native memory, with a pointer table over them.</summary>
    private sealed class Utf8Strings : IDisposable
    {
        private readonly byte** table;
        private readonly int count;

        public Utf8Strings(IReadOnlyList<string> texts)
        {
            count = texts.Count;
            table = (byte**)NativeMemory.AllocZeroed((nuint)Math.Max(1, count), (nuint)sizeof(nint));
            for (var i = 0; i < count; i++)
            {
                var length = Encoding.UTF8.GetByteCount(texts[i]);
                var text = (byte*)NativeMemory.Alloc((nuint)length + 1);
                Encoding.UTF8.GetBytes(texts[i], new Span<byte>(text, length));
                text[length] = 0;
                table[i] = text;
            }
        }

        public byte* this[int index] => table[index];

        public byte** At(int index) => table + index;

        public void Dispose()
        {
            for (var i = 0; i < count; i++) NativeMemory.Free(table[i]);
            NativeMemory.Free(table);
        }
    }
}
