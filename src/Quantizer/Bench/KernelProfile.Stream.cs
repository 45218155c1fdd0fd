using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SagePtq.Runtime.Cpu;

namespace SagePtq.Quantizer.Bench;

internal static unsafe partial class KernelProfile
{
    /// <summary>
    /// The sign kernel alone streamed from the mapping: every layer's <paramref name="part"/> in turn, 4-row
    /// tiles, with software prefetch at several distances and hints, on one thread and on the pool, so the
    /// memory side of the product can be told from its compute side.
    /// </summary>
    private static void StreamSweep(CpuModel model, WorkerPool pool, TextWriter o, int repeat, int part)
    {
        int layers = model.Config.NumLayers;
        var linears = Enumerable.Range(0, layers).Select(l => model.Linears[2 + 7 * l + part]).OfType<SageCpuLinear>().ToArray();
        if (linears.Length != layers) return;
        int cols = linears[0].Cols, rows = linears[0].Rows, stride = linears[0].SignRowBytes, blocks = cols / SignDot.BlockWeights;
        sbyte* q = (sbyte*)NativeMemory.AlignedAlloc((nuint)cols, 64);
        float* d = (float*)NativeMemory.AlignedAlloc((nuint)(4 * blocks), 64);
        for (int i = 0; i < cols; i++) q[i] = (sbyte)(i * 37 % 255 - 127);
        for (int i = 0; i < blocks; i++) d[i] = 0.01f;
        double bytes = (double)rows * stride;
        double PerMatrix(Action<SageCpuLinear> run) => PerLayer(linears, repeat, run);
        var read = new PlainRead();
        foreach (int threads in new[] { 1, pool.Threads })
        {
            double plain = PerMatrix(l =>
            {
                read.Signs = l.Signs;
                read.Stride = stride;
                if (threads == 1) read.Run(0, rows);
                else pool.For(rows, 4, read);
            });
            o.WriteLine($"  stream {cols}-col signs, {threads} thread(s), plain read (no kernel): {bytes / plain / 1e9,6:F2} GB/s");
            foreach (int hint in new[] { 0, 1, 3 })
                foreach (int distance in new[] { 0, 2048, 4096, 8192, 16384 })
                {
                    if (distance == 0 && hint != 0) continue;
                    var sweep = new Sweep(linears, q, d, blocks, distance, hint);
                    double seconds = PerMatrix(l =>
                    {
                        sweep.Signs = l.Signs;
                        if (threads == 1) sweep.Run(0, rows);
                        else pool.For(rows, 4, sweep);
                    });
                    o.WriteLine($"  stream {cols}-col signs, {threads} thread(s), prefetch {(hint switch { 0 => "T0", 1 => "T1", _ => "NTA" })} {distance,6} B ahead: {bytes / seconds / 1e9,6:F2} GB/s");
                }
        }
        NativeMemory.AlignedFree(q);
        NativeMemory.AlignedFree(d);
    }

    /// <summary>Sums the sign rows with 32-byte loads: the memory side alone.</summary>
    private sealed class PlainRead : IRangeWork
    {
        public byte* Signs;
        public int Stride;
        public long Sink;

        public void Run(int start, int end)
        {
            var sum = System.Runtime.Intrinsics.Vector256<byte>.Zero;
            byte* from = Signs + (nint)start * Stride, to = Signs + (nint)end * Stride;
            for (byte* p = from; p + 128 <= to; p += 128)
                sum ^= Avx.LoadVector256(p) ^ Avx.LoadVector256(p + 32) ^ Avx.LoadVector256(p + 64) ^ Avx.LoadVector256(p + 96);
            Sink += sum.ToScalar();
        }
    }

    private sealed class Sweep(SageCpuLinear[] linears, sbyte* q, float* d, int blocks, int distance, int hint) : IRangeWork
    {
        public byte* Signs;

        public void Run(int start, int end)
        {
            int stride = linears[0].SignRowBytes;
            float* result = stackalloc float[4];
            var path = SignDotPaths.Best;
            byte* signs = Signs;
            byte* limit = signs + (nint)end * stride;
            for (int r = start; r + 4 <= end; r += 4)
            {
                byte* s = signs + (nint)r * stride;
                if (distance > 0)
                {
                    byte* from = s + distance, to = Math.Min((nint)(from + 4 * stride), (nint)limit) is var t ? (byte*)t : null;
                    for (byte* line = from; line < to; line += 64)
                    {
                        if (hint == 0) Sse.Prefetch0(line);
                        else if (hint == 1) Sse.Prefetch1(line);
                        else Sse.PrefetchNonTemporal(line);
                    }
                }
                SignDot.Dot4(path, s, s + stride, s + 2 * stride, s + 3 * stride, q, d, blocks, result);
            }
        }
    }
}
