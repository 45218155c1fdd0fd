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

    [CudaFact]
    public void Buffers_round_trip_and_refuse_copies_that_do_not_fit()
    {
        Assert.True(CudaDevice.TryOpen(out var device, out var reason), reason);
        using (device)
        {
            int[] values = [1, -2, 3, int.MaxValue, int.MinValue];
            using var buffer = device!.Upload<int>(values);
            Assert.Equal(20, buffer.Length);
            var back = new int[5];
            buffer.CopyTo<int>(back);
            Assert.Equal(values, back);
            var tail = new int[2];
            buffer.CopyTo<int>(tail, byteOffset: 12);
            Assert.Equal([int.MaxValue, int.MinValue], tail);
            buffer.Fill(0xFF);
            buffer.CopyTo<int>(back);
            Assert.All(back, v => Assert.Equal(-1, v));
            Assert.Throws<ArgumentException>(() => buffer.CopyFrom<int>(new int[6]));
            Assert.Throws<ArgumentException>(() => buffer.CopyTo<int>(new int[2], byteOffset: 16));
            Assert.Throws<ArgumentOutOfRangeException>(() => device.Allocate(0));
            buffer.Dispose();
            Assert.Throws<ObjectDisposedException>(() => buffer.CopyTo<int>(back));
        }
    }

    [CudaFact]
    public void The_cache_recompiles_an_intact_entry_the_driver_rejects()
    {
        Assert.True(CudaDevice.TryOpen(out var device, out var reason), reason);
        using var dir = SagePtq.Tests.TestAssets.NewTempDir();
        using (device)
        {
            var request = new CudaCompileRequest("cached.cu", "extern \"C\" __global__ void cached_kernel() {}", null,
                device!.ComputeMajor, device.ComputeMinor);
            var log = new StringWriter();
            var cache = new CudaKernelCache(NvrtcCompiler.Instance, dir.Path, log);
            // A well-formed entry whose payload is no module image (as after a driver change); NUL-terminated, as the driver may read it as PTX text.
            File.WriteAllBytes(cache.PathOf(request), CudaKernelCache.Entry(cache.KeyOf(request), "not a cubin\0"u8));
            using var module = cache.Load(device, request);
            Assert.Equal("cached_kernel", module.GetKernel("cached_kernel").Name);
            Assert.Contains("the driver rejected", log.ToString());
            Assert.Equal(1, cache.Compiles);
            var again = new CudaKernelCache(NvrtcCompiler.Instance, dir.Path, log);
            using var second = again.Load(device, request);
            Assert.Equal((0, 1), (again.Compiles, again.Hits));
        }
    }

    [CudaFact]
    public void Ptx_compiles_for_the_virtual_architecture_and_loads()
    {
        Assert.True(CudaDevice.TryOpen(out var device, out var reason), reason);
        using (device)
        {
            Assert.Matches(@"^nvrtc-\d+\.\d+$", NvrtcCompiler.Instance.Version);
            var request = new CudaCompileRequest("ptx.cu", "extern \"C\" __global__ void from_ptx(float* x) { x[0] = 1.0f; }", null,
                device!.ComputeMajor, device.ComputeMinor);
            var ptx = NvrtcCompiler.CompilePtx(request);
            Assert.DoesNotContain('\0', ptx);
            Assert.Contains("from_ptx", ptx);
            using var module = device.LoadPtx(ptx);
            Assert.Equal("from_ptx", module.GetKernel("from_ptx").Name);
        }
    }
}
