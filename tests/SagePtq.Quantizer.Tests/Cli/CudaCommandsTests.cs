using SagePtq.Quantizer.Cli;
using SagePtq.Runtime.Cuda;

namespace SagePtq.Quantizer.Tests.Cli;

/// <summary>
/// The CUDA verbs on a machine without a usable CUDA device (this one, CI): they check nothing, say why on
/// stderr, and exit 3, before touching the packs they were given. Where CUDA is present these skip.
/// </summary>
public sealed class CudaCommandsTests
{
    private sealed class NoCudaFactAttribute : FactAttribute
    {
        public NoCudaFactAttribute()
        {
            if (CudaAvailability.IsAvailable) Skip = "CUDA is available here; this checks the verbs without it";
        }
    }

    [NoCudaFact]
    public void Cuda_check_without_a_gpu_prints_the_reason_and_exits_3()
    {
        var result = CliRunner.Run("cuda-check", "--pack", "no-such-pack");
        Assert.Equal(3, result.ExitCode);
        Assert.Equal(CudaCheckCommand.NoCudaDevice, result.ExitCode);
        Assert.Contains($"CUDA backend unavailable: {CudaAvailability.Probe.Reason}", result.Error, StringComparison.Ordinal);
        Assert.Contains("nothing was checked", result.Error, StringComparison.Ordinal);
        Assert.Equal("", result.Output);
    }

    [NoCudaFact]
    public void Bench_on_cuda_without_a_gpu_prints_the_reason_and_exits_3()
    {
        var result = CliRunner.Run("bench", "--backend", "cuda", "--pack", "no-such-pack");
        Assert.Equal(CudaCheckCommand.NoCudaDevice, result.ExitCode);
        Assert.Contains($"CUDA backend unavailable: {CudaAvailability.Probe.Reason}", result.Error, StringComparison.Ordinal);
        Assert.Contains("nothing was measured", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Bench_refuses_an_unknown_backend_as_bad_usage()
    {
        var result = CliRunner.Run("bench", "--backend", "rocm", "--pack", "x");
        Assert.Equal(SagePtqCli.BadUsage, result.ExitCode);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("9")]
    [InlineData("4", "4")]
    public void Bench_refuses_rows_per_warp_outside_1_to_8_or_listed_twice_as_bad_usage(params string[] values)
    {
        var result = CliRunner.Run(["bench", "--backend", "cuda", "--pack", "x", "--rows-per-warp", .. values]);
        Assert.Equal(SagePtqCli.BadUsage, result.ExitCode);
        Assert.Contains("--rows-per-warp", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Cuda_check_options_are_range_checked()
    {
        Assert.Equal(SagePtqCli.BadUsage, CliRunner.Run("cuda-check", "--tokens", "0").ExitCode);
        Assert.Equal(SagePtqCli.BadUsage, CliRunner.Run("cuda-check", "--max-windows", "0").ExitCode);
    }
}
