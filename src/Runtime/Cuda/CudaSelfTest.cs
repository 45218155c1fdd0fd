using System.Diagnostics;
using SagePtq.Runtime.Cuda.Compilation;

namespace SagePtq.Runtime.Cuda;

/// <summary>
/// An end-to-end check of the binding for a machine with a GPU (a console app or CLI verb calls it and
/// exits non-zero on false): opens the device, compiles a small kernel that includes a header with NVRTC
/// through a fresh <see cref="CudaKernelCache"/> (and checks that a second request is a cache hit), runs it on
/// 1,000 elements and compares every result with the CPU, then captures the launch in a
/// <see cref="CudaGraph"/>, replays it and checks again.
/// </summary>
public static class CudaSelfTest
{
    private const string HeaderName = "selftest.cuh";

    private const string Header = """
        #pragma once
        // A device function from a header, so the check covers NVRTC's in-memory headers.
        __device__ inline float combine(float a, float b) { return a + 2.0f * b; }
        """;

    private const string Source = """
        #include "selftest.cuh"
        extern "C" __global__ void selftest_combine(const float* a, const float* b, float* c, int n)
        {
            int i = blockIdx.x * blockDim.x + threadIdx.x;
            if (i < n) c[i] = combine(a[i], b[i]);
        }
        """;

    /// <summary>Runs the check, writing each step to <paramref name="log"/>; false (with the reason logged) on any failure.</summary>
    public static bool Run(TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(log);
        if (!CudaDevice.TryOpen(out var opened, out var reason))
        {
            log.WriteLine($"FAIL no CUDA device: {reason}");
            return false;
        }
        var cacheDirectory = Directory.CreateTempSubdirectory("sageptq-cuda-selftest-").FullName;
        using var device = opened!;
        try
        {
            log.WriteLine($"device: {reason}");
            log.WriteLine($"memory: {device.TotalMemoryBytes >> 20} MiB, peak bandwidth {device.PeakBandwidthBytesPerSecond / 1e12:F2} TB/s");
            return RunOn(device, cacheDirectory, log);
        }
        catch (Exception e) when (e is CudaException or CudaCompileException)
        {
            log.WriteLine($"FAIL {e.Message}");
            return false;
        }
        finally
        {
            try { Directory.Delete(cacheDirectory, recursive: true); } catch (IOException) { }
        }
    }

    private static bool RunOn(CudaDevice device, string cacheDirectory, TextWriter log)
    {
        const int count = 1000; // not a multiple of the block, so the bounds check matters
        const uint threads = 256;
        var request = new CudaCompileRequest("selftest.cu", Source, new Dictionary<string, string> { [HeaderName] = Header },
            device.ComputeMajor, device.ComputeMinor);
        var cache = new CudaKernelCache(NvrtcCompiler.Instance, cacheDirectory, log);
        var clock = Stopwatch.StartNew();
        var cubin = cache.GetOrCompile(request);
        log.WriteLine($"compiled {request.Name} for {request.Architecture} with {NvrtcCompiler.Instance.Version}: {cubin.Length} bytes in {clock.ElapsedMilliseconds} ms");
        var again = cache.GetOrCompile(request);
        if (cache.Compiles != 1 || cache.Hits != 1 || !again.AsSpan().SequenceEqual(cubin))
            return Fail(log, $"kernel cache: expected one compile and one identical hit, got {cache.Compiles} compiles and {cache.Hits} hits");

        var a = new float[count];
        var b = new float[count];
        var expected = new float[count];
        for (var i = 0; i < count; i++)
        {
            a[i] = i * 0.5f - 100f;
            b[i] = 1f / (i + 1);
            expected[i] = a[i] + 2.0f * b[i]; // exact either way: 2b is exact, so an FMA rounds the same
        }

        using var module = device.LoadCubin(cubin);
        var kernel = module.GetKernel("selftest_combine");
        using var bufferA = device.Upload<float>(a);
        using var bufferB = device.Upload<float>(b);
        using var bufferC = device.Allocate(count * sizeof(float));
        using var stream = device.CreateStream();
        using var arguments = new KernelArguments().Add(bufferA).Add(bufferB).Add(bufferC).Add(count);
        var grid = Dim3.BlocksFor(count, threads);

        bufferC.Fill(0);
        kernel.Launch(grid, threads, 0, stream, arguments.Pointers);
        stream.Synchronize();
        if (!Matches(bufferC, expected, log, "direct launch")) return false;

        using var graph = CudaGraph.Capture(stream, s => kernel.Launch(grid, threads, 0, s, arguments.Pointers));
        bufferC.Fill(0); // capturing ran nothing; the replay must fill the output again
        using var start = device.CreateEvent();
        using var end = device.CreateEvent();
        const int replays = 100;
        start.Record(stream);
        for (var i = 0; i < replays; i++) graph.Launch(stream);
        end.Record(stream);
        var milliseconds = CudaEvent.ElapsedMilliseconds(start, end);
        stream.Synchronize();
        if (!Matches(bufferC, expected, log, "graph replay")) return false;
        log.WriteLine($"graph: {replays} replays in {milliseconds:F3} ms ({milliseconds * 1000 / replays:F2} µs each)");
        log.WriteLine("PASS CUDA self-test");
        return true;
    }

    private static bool Matches(DeviceBuffer output, float[] expected, TextWriter log, string what)
    {
        var actual = new float[expected.Length];
        output.CopyTo<float>(actual);
        for (var i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(actual[i]) != BitConverter.SingleToInt32Bits(expected[i]))
                return Fail(log, $"{what}: element {i} is {actual[i]:R}, expected {expected[i]:R}");
        }
        log.WriteLine($"{what}: all {expected.Length} results match the CPU");
        return true;
    }

    private static bool Fail(TextWriter log, string message)
    {
        log.WriteLine($"FAIL {message}");
        return false;
    }
}
