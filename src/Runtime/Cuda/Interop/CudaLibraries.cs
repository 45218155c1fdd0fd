using System.Reflection;
using System.Runtime.InteropServices;

namespace SagePtq.Runtime.Cuda.Interop;

/// <summary>
/// Finds libcuda and libnvrtc at run time. The <c>LibraryImport</c> declarations name the logical
/// libraries <see cref="DriverName"/> and <see cref="NvrtcName"/>; a <see cref="NativeLibrary.SetDllImportResolver"/>
/// callback maps them to the first real file that loads, because the files carry version suffixes
/// (<c>libcuda.so.1</c>, <c>libnvrtc.so.13</c>) that the default probing would not try. Each library is
/// looked for once per process.
/// </summary>
internal static class CudaLibraries
{
    /// <summary>The logical name of the CUDA driver library in <see cref="CudaDriver"/>'s declarations.</summary>
    public const string DriverName = "sageptq-cuda-driver";

    /// <summary>The logical name of the NVRTC library in <see cref="Nvrtc"/>'s declarations.</summary>
    public const string NvrtcName = "sageptq-nvrtc";

    private static readonly Lazy<NativeLibraryProbeResult> DriverProbe =
        new(() => NativeLibraryProbe.FirstThatLoads(DriverCandidates(), NativeLibraryProbe.TryLoadFromSystem, "no NVIDIA driver"));

    private static readonly Lazy<NativeLibraryProbeResult> NvrtcProbe =
        new(() => NativeLibraryProbe.FirstThatLoads(NvrtcCandidates(), NativeLibraryProbe.TryLoadFromSystem,
            "no CUDA 12 or 13 NVRTC (the runtime compiler ships with the CUDA toolkit, or pip's nvidia-cuda-nvrtc)"));

    private static int resolverState; // 0 = not yet, 1 = ours, 2 = another resolver was already set

    /// <summary>The driver library's probe (loads it on first use).</summary>
    public static NativeLibraryProbeResult Driver => DriverProbe.Value;

    /// <summary>The NVRTC library's probe (loads it on first use).</summary>
    public static NativeLibraryProbeResult Nvrtc => NvrtcProbe.Value;

    /// <summary>An environment variable naming the driver library's file (tried before the usual names).</summary>
    public const string DriverPathVariable = "SAGEPTQ_CUDA_DRIVER";

    /// <summary>
    /// An environment variable naming the NVRTC library's file (tried before the usual names), e.g. a pip
    /// <c>nvidia-cuda-nvrtc</c> install, which is not on the loader's search path.
    /// </summary>
    public const string NvrtcPathVariable = "SAGEPTQ_NVRTC";

    /// <summary>The driver's file names for this OS, most specific first.</summary>
    public static IReadOnlyList<string> DriverCandidates() =>
        WithOverride(DriverPathVariable, OperatingSystem.IsWindows() ? ["nvcuda.dll"] : ["libcuda.so.1", "libcuda.so"]);

    /// <summary>NVRTC's file names for this OS: CUDA 13 first, then 12, then an unversioned link.</summary>
    public static IReadOnlyList<string> NvrtcCandidates() =>
        WithOverride(NvrtcPathVariable, OperatingSystem.IsWindows()
            ? ["nvrtc64_130_0.dll", "nvrtc64_120_0.dll"]
            : ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"]);

    private static IReadOnlyList<string> WithOverride(string variable, string[] names)
    {
        var path = Environment.GetEnvironmentVariable(variable);
        return string.IsNullOrWhiteSpace(path) ? names : [path, .. names];
    }

    /// <summary>
    /// Installs the resolver for this assembly (idempotent; the declaring classes call it from their
    /// static constructors, which run before their first P/Invoke).
    /// </summary>
    public static void EnsureResolver()
    {
        if (Volatile.Read(ref resolverState) != 0) return;
        lock (DriverProbe)
        {
            if (resolverState != 0) return;
            try
            {
                NativeLibrary.SetDllImportResolver(typeof(CudaLibraries).Assembly, Resolve);
                resolverState = 1;
            }
            catch (InvalidOperationException)
            {
                // Only one resolver per assembly: if some other part set one first, calls fall back to
                // default probing of the logical names and fail with DllNotFoundException.
                resolverState = 2;
            }
        }
    }

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath) => libraryName switch
    {
        DriverName => Driver.Handle,
        NvrtcName => Nvrtc.Handle,
        _ => 0,
    };
}
