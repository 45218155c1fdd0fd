using SagePtq.Runtime.Cuda;
using SagePtq.Runtime.Cuda.Interop;

namespace SagePtq.Runtime.Tests.Cuda;

public sealed class CudaErrorTests
{
    [Fact]
    public void Driver_error_carries_the_function_the_error_name_and_its_description()
    {
        // Asks the driver for the name when one is installed, else uses the binding's own: the same name either way.
        var error = CudaException.FromDriver("cuMemAlloc_v2", CudaResult.OutOfMemory);
        Assert.Equal("cuMemAlloc_v2", error.Function);
        Assert.Equal(2, error.Code);
        Assert.Equal(CudaResult.OutOfMemory, error.Result);
        Assert.Equal("CUDA_ERROR_OUT_OF_MEMORY", error.ErrorName);
        Assert.False(string.IsNullOrWhiteSpace(error.ErrorDescription));
        Assert.StartsWith("cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (", error.Message);
    }

    [Fact]
    public void Explicit_parts_make_the_message()
    {
        var error = new CudaException("cuLaunchKernel(layer03_mlp_down_proj)", 701, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES", "too many resources requested for launch");
        Assert.Equal("cuLaunchKernel(layer03_mlp_down_proj) failed: CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES (too many resources requested for launch)", error.Message);
        Assert.Equal(CudaResult.LaunchOutOfResources, error.Result);
    }

    [Theory]
    [InlineData(CudaResult.Success, "CUDA_SUCCESS")]
    [InlineData(CudaResult.NoDevice, "CUDA_ERROR_NO_DEVICE")]
    [InlineData(CudaResult.InvalidPtx, "CUDA_ERROR_INVALID_PTX")]
    [InlineData(CudaResult.NoBinaryForGpu, "CUDA_ERROR_NO_BINARY_FOR_GPU")]
    [InlineData(CudaResult.StreamCaptureInvalidated, "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED")]
    [InlineData((CudaResult)12345, "CUDA_ERROR_12345")]
    public void Driver_codes_have_their_c_names(CudaResult result, string expected) =>
        Assert.Equal(expected, CudaException.FallbackName(result));

    [Theory]
    [InlineData(NvrtcResult.Compilation, "NVRTC_ERROR_COMPILATION")]
    [InlineData(NvrtcResult.InvalidOption, "NVRTC_ERROR_INVALID_OPTION")]
    [InlineData((NvrtcResult)77, "NVRTC_ERROR_77")]
    public void Nvrtc_codes_have_their_c_names(NvrtcResult result, string expected) =>
        Assert.Equal(expected, CudaException.FallbackName(result));

    [Fact]
    public void Compile_error_carries_the_source_name_the_architecture_and_the_whole_log()
    {
        var log = "layer03.cu(7): error: identifier \"ROWS\" is undefined\n\n1 error detected in the compilation of \"layer03.cu\".\n";
        var error = new CudaCompileException("layer03.cu", "sm_90", log);
        Assert.Equal("layer03.cu", error.SourceName);
        Assert.Equal("sm_90", error.Architecture);
        Assert.Equal(log, error.Log);
        Assert.StartsWith("NVRTC could not compile layer03.cu for sm_90:", error.Message);
        Assert.Contains("identifier \"ROWS\" is undefined", error.Message);
        Assert.Contains("1 error detected", error.Message);
        Assert.Contains("(empty log)", new CudaCompileException("a.cu", "sm_80", "").Message);
    }
}
