using SagePtq.Runtime.Cuda.Interop;

namespace SagePtq.Runtime.Cuda;

/// <summary>What the one-time CUDA probe found.</summary>
/// <param name="IsAvailable">True when the driver, a device and NVRTC are all usable.</param>
/// <param name="Reason">Why CUDA cannot be used ("libcuda.so.1 not found: no NVIDIA driver"), or a one-line summary when it can.</param>
/// <param name="DriverLibrary">The driver file that loaded, or null.</param>
/// <param name="NvrtcLibrary">The NVRTC file that loaded, or null.</param>
/// <param name="DriverVersion">The driver's CUDA version as the driver reports it (12040 = 12.4), or 0.</param>
/// <param name="NvrtcMajor">NVRTC's major version, or 0.</param>
/// <param name="NvrtcMinor">NVRTC's minor version, or 0.</param>
/// <param name="DeviceCount">The number of CUDA devices, or 0.</param>
public sealed record CudaProbeResult(
    bool IsAvailable, string Reason, string? DriverLibrary, string? NvrtcLibrary,
    int DriverVersion, int NvrtcMajor, int NvrtcMinor, int DeviceCount)
{
    /// <summary>NVRTC's version as a string ("13.0"), or "none".</summary>
    public string NvrtcVersion => NvrtcMajor == 0 ? "none" : $"{NvrtcMajor}.{NvrtcMinor}";
}

/// <summary>
/// Whether this process can use the CUDA backend, decided once (a static <see cref="Lazy{T}"/>) and never by
/// an exception: no driver library, no device, a driver too old, or no NVRTC each give a reason string, and
/// the caller falls back to the CPU backend after <see cref="ReportUnavailableOnce"/>.
/// </summary>
public static class CudaAvailability
{
    /// <summary>The oldest driver accepted: CUDA 12.0 (NVRTC 12 CUBINs; graph instantiation with flags).</summary>
    public const int MinimumDriverVersion = 12000;

    private static readonly Lazy<CudaProbeResult> Lazy = new(ProbeNow);
    private static int reported;

    /// <summary>The probe's result (computed on first access, then cached for the process).</summary>
    public static CudaProbeResult Probe => Lazy.Value;

    /// <summary>True when CUDA is usable in this process.</summary>
    public static bool IsAvailable => Probe.IsAvailable;

    /// <summary>
    /// Writes "CUDA backend unavailable: {reason}; using the CPU backend" to <paramref name="log"/> the first
    /// time it is called in the process while CUDA is unavailable; later calls write nothing.
    /// </summary>
    /// <returns>True when it wrote the message.</returns>
    public static bool ReportUnavailableOnce(TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(log);
        var probe = Probe;
        if (probe.IsAvailable || Interlocked.Exchange(ref reported, 1) != 0) return false;
        log.WriteLine($"CUDA backend unavailable: {probe.Reason}; using the CPU backend");
        return true;
    }

    /// <summary>A CUDA version number as the driver reports it (12040) in the usual form ("12.4").</summary>
    public static string FormatVersion(int version) => $"{version / 1000}.{version % 1000 / 10}";

    /// <summary>
    /// Why a driver of <paramref name="driverVersion"/> cannot run code from NVRTC <paramref name="nvrtcMajor"/>,
    /// or null when it can: the driver must be at least <see cref="MinimumDriverVersion"/> and of NVRTC's major
    /// version or newer (a CUBIN from a newer major toolkit does not load on an older driver).
    /// </summary>
    public static string? VersionProblem(int driverVersion, int nvrtcMajor)
    {
        if (driverVersion < MinimumDriverVersion)
            return $"NVIDIA driver too old: it supports CUDA {FormatVersion(driverVersion)}, {FormatVersion(MinimumDriverVersion)} or newer is needed";
        if (nvrtcMajor > driverVersion / 1000)
            return $"NVIDIA driver too old for NVRTC {nvrtcMajor}: it supports CUDA {FormatVersion(driverVersion)}";
        return null;
    }

    private static unsafe CudaProbeResult ProbeNow()
    {
        var driver = CudaLibraries.Driver;
        if (!driver.Found) return Unavailable(driver.Reason!);
        try
        {
            var init = CudaDriver.cuInit(0);
            if (init != CudaResult.Success)
            {
                var error = CudaException.FromDriver("cuInit", init);
                var meaning = init switch
                {
                    CudaResult.NoDevice => "no CUDA device",
                    CudaResult.InsufficientDriver => "NVIDIA driver too old",
                    CudaResult.StubLibrary => "the CUDA toolkit's stub library was found instead of the driver",
                    _ => "the driver did not initialize",
                };
                return Unavailable($"{meaning} ({error.ErrorName}: {error.ErrorDescription})", driver.LoadedName);
            }
            int version, count;
            CudaDriver.Check(CudaDriver.cuDriverGetVersion(&version), nameof(CudaDriver.cuDriverGetVersion));
            CudaDriver.Check(CudaDriver.cuDeviceGetCount(&count), nameof(CudaDriver.cuDeviceGetCount));
            if (count == 0) return Unavailable("no CUDA device", driver.LoadedName, version);

            var nvrtc = CudaLibraries.Nvrtc;
            if (!nvrtc.Found) return Unavailable(nvrtc.Reason!, driver.LoadedName, version, count: count);
            int major, minor;
            Nvrtc.Check(Nvrtc.nvrtcVersion(&major, &minor), nameof(Nvrtc.nvrtcVersion));
            var problem = VersionProblem(version, major);
            if (problem is not null) return Unavailable(problem, driver.LoadedName, version, nvrtc.LoadedName, major, minor, count);
            return new CudaProbeResult(true,
                $"CUDA driver {FormatVersion(version)} ({driver.LoadedName}), NVRTC {major}.{minor} ({nvrtc.LoadedName}), {count} device(s)",
                driver.LoadedName, nvrtc.LoadedName, version, major, minor, count);
        }
        catch (DllNotFoundException e)
        {
            // The file loaded but the declarations could not be bound to it (another resolver owns the assembly).
            return Unavailable($"the CUDA libraries could not be bound ({e.Message})", driver.LoadedName);
        }
        catch (EntryPointNotFoundException e)
        {
            return Unavailable($"NVIDIA driver or NVRTC too old: a function is missing ({e.Message})", driver.LoadedName);
        }
        catch (CudaException e)
        {
            return Unavailable(e.Message, driver.LoadedName);
        }
    }

    private static CudaProbeResult Unavailable(string reason, string? driverLibrary = null, int driverVersion = 0,
        string? nvrtcLibrary = null, int nvrtcMajor = 0, int nvrtcMinor = 0, int count = 0) =>
        new(false, reason, driverLibrary, nvrtcLibrary, driverVersion, nvrtcMajor, nvrtcMinor, count);
}
