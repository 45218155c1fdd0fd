using SagePtq.Runtime.Cuda;
using SagePtq.Runtime.Cuda.Compilation;

namespace SagePtq.Runtime.Tests.Cuda;

/// <summary>Checks that need a GPU: skipped here, run where <see cref="CudaAvailability"/> finds one.</summary>
public sealed class CudaDeviceTests
{
    [CudaFact]
    public void Self_test_passes_on_a_gpu()
    {
        var log = new StringWriter();
        Assert.True(CudaSelfTest.Run(log), log.ToString());
    }

    [CudaFact]
    public void Nvrtc_reports_a_compile_error_with_the_source_name_and_log()
    {
        Assert.True(CudaDevice.TryOpen(out var device, out var reason), reason);
        using (device)
        {
            var request = new CudaCompileRequest("broken.cu", "extern \"C\" __global__ void broken() { undeclared_name = 1; }", null,
                device!.ComputeMajor, device.ComputeMinor);
            var error = Assert.Throws<CudaCompileException>(() => NvrtcCompiler.CompileCubin(request));
            Assert.Equal("broken.cu", error.SourceName);
            Assert.Contains("undeclared_name", error.Log);
        }
    }

    [CudaFact]
    public void A_missing_kernel_name_is_a_cuda_error_naming_it()
    {
        Assert.True(CudaDevice.TryOpen(out var device, out var reason), reason);
        using (device)
        {
            var cubin = NvrtcCompiler.Compile("one.cu", "extern \"C\" __global__ void present() {}", new Dictionary<string, string>(),
                device!.ComputeMajor, device.ComputeMinor, []);
            using var module = device.LoadCubin(cubin);
            Assert.Equal("present", module.GetKernel("present").Name);
            var error = Assert.Throws<CudaException>(() => module.GetKernel("absent"));
            Assert.Contains("absent", error.Function);
            Assert.Equal("CUDA_ERROR_NOT_FOUND", error.ErrorName);
        }
    }
}
