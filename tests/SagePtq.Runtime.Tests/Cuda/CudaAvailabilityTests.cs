using SagePtq.Runtime.Cuda;
using SagePtq.Runtime.Cuda.Interop;

namespace SagePtq.Runtime.Tests.Cuda;

public sealed class CudaAvailabilityTests
{
    [Fact]
    public void Probe_never_throws_and_names_the_driver_library_when_it_is_missing()
    {
        var probe = CudaAvailability.Probe;
        Assert.False(string.IsNullOrWhiteSpace(probe.Reason));
        if (CudaLibraries.Driver.Found) return; // a driver is installed: the reason is about something else
        Assert.False(probe.IsAvailable);
        Assert.Contains(OperatingSystem.IsWindows() ? "nvcuda.dll" : "libcuda.so.1", probe.Reason);
        Assert.Contains("not found", probe.Reason);
        Assert.Null(probe.DriverLibrary);
        Assert.Equal(0, probe.DeviceCount);
    }

    [NoCudaFact]
    public void TryOpen_returns_false_with_the_probe_reason_instead_of_throwing()
    {
        Assert.False(CudaDevice.TryOpen(out var device, out var reason));
        Assert.Null(device);
        Assert.Equal(CudaAvailability.Probe.Reason, reason);
    }

    [NoCudaFact]
    public void Unavailability_is_reported_once_per_process()
    {
        var first = new StringWriter();
        var second = new StringWriter();
        var wroteFirst = CudaAvailability.ReportUnavailableOnce(first);
        var wroteSecond = CudaAvailability.ReportUnavailableOnce(second);
        Assert.False(wroteSecond);
        Assert.Equal("", second.ToString());
        if (wroteFirst) // false only if another test in this process reported first
        {
            Assert.Contains(CudaAvailability.Probe.Reason, first.ToString());
            Assert.Contains("using the CPU backend", first.ToString());
        }
    }

    [NoCudaFact]
    public void Self_test_fails_with_the_reason_when_there_is_no_device()
    {
        var log = new StringWriter();
        Assert.False(CudaSelfTest.Run(log));
        Assert.Contains("FAIL no CUDA device", log.ToString());
        Assert.Contains(CudaAvailability.Probe.Reason, log.ToString());
    }

    [Fact]
    public void Library_probe_takes_the_first_name_that_loads()
    {
        var tried = new List<string>();
        var result = NativeLibraryProbe.FirstThatLoads(["libx.so.2", "libx.so.1", "libx.so"],
            name => { tried.Add(name); return name == "libx.so.1" ? 42 : 0; }, "no X");
        Assert.True(result.Found);
        Assert.Equal(42, result.Handle);
        Assert.Equal("libx.so.1", result.LoadedName);
        Assert.Null(result.Reason);
        Assert.Equal(["libx.so.2", "libx.so.1"], tried);
    }

    [Fact]
    public void Library_probe_reason_names_the_library_every_candidate_and_the_meaning()
    {
        var result = NativeLibraryProbe.FirstThatLoads(["libcuda.so.1", "libcuda.so"], _ => 0, "no NVIDIA driver");
        Assert.False(result.Found);
        Assert.Null(result.LoadedName);
        Assert.Equal("libcuda.so.1 not found (tried libcuda.so.1, libcuda.so): no NVIDIA driver", result.Reason);
        var single = NativeLibraryProbe.FirstThatLoads(["nvcuda.dll"], _ => 0, "no NVIDIA driver");
        Assert.Equal("nvcuda.dll not found: no NVIDIA driver", single.Reason);
        Assert.Throws<ArgumentException>(() => NativeLibraryProbe.FirstThatLoads([], _ => 0, "x"));
    }

    [Fact]
    public void Candidate_names_put_the_versioned_files_first()
    {
        var driver = CudaLibraries.DriverCandidates();
        var nvrtc = CudaLibraries.NvrtcCandidates();
        if (OperatingSystem.IsWindows())
        {
            Assert.Equal(["nvcuda.dll"], driver);
            Assert.Equal(["nvrtc64_130_0.dll", "nvrtc64_120_0.dll"], nvrtc);
        }
        else
        {
            Assert.Equal(["libcuda.so.1", "libcuda.so"], driver);
            Assert.Equal(["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"], nvrtc);
        }
    }

    [Fact]
    public void A_path_in_the_environment_is_tried_first()
    {
        var saved = Environment.GetEnvironmentVariable(CudaLibraries.NvrtcPathVariable);
        try
        {
            Environment.SetEnvironmentVariable(CudaLibraries.NvrtcPathVariable, "/opt/pip/nvidia/cuda_nvrtc/lib/libnvrtc.so.12");
            var names = CudaLibraries.NvrtcCandidates();
            Assert.Equal("/opt/pip/nvidia/cuda_nvrtc/lib/libnvrtc.so.12", names[0]);
            Assert.Equal(OperatingSystem.IsWindows() ? 3 : 4, names.Count);
        }
        finally
        {
            Environment.SetEnvironmentVariable(CudaLibraries.NvrtcPathVariable, saved);
        }
    }

    [Theory]
    [InlineData(11080, 12, "NVIDIA driver too old: it supports CUDA 11.8, 12.0 or newer is needed")]
    [InlineData(12040, 13, "NVIDIA driver too old for NVRTC 13: it supports CUDA 12.4")]
    [InlineData(12040, 12, null)]
    [InlineData(13000, 13, null)]
    [InlineData(13010, 12, null)]
    public void Version_check_needs_cuda_12_and_a_driver_at_least_as_new_as_nvrtc(int driver, int nvrtcMajor, string? expected) =>
        Assert.Equal(expected, CudaAvailability.VersionProblem(driver, nvrtcMajor));

    [Theory]
    [InlineData(12040, "12.4")]
    [InlineData(13000, "13.0")]
    [InlineData(12080, "12.8")]
    public void Driver_versions_format_as_major_dot_minor(int version, string expected) =>
        Assert.Equal(expected, CudaAvailability.FormatVersion(version));
}
