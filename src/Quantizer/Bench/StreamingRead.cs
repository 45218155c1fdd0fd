using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using SagePtq.Runtime.Cpu;

namespace SagePtq.Quantizer.Bench;

/// <summary>
/// The plain streaming-read bandwidth of this machine: all threads sum a native buffer much larger than
/// the caches, 32 bytes per load, in chunks handed out by the same <see cref="WorkerPool"/> the model
/// uses. It is the ceiling a bandwidth-bound decode step is measured against, taken in the same run.
/// </summary>
internal sealed unsafe class StreamingRead : IRangeWork, IDisposable
{
    private const int ChunkBytes = 1 << 20;

    private readonly byte* _buffer;
    private readonly long _bytes;
    private readonly long[] _sinks = new long[64];

    public StreamingRead(long bytes)
    {
        _bytes = bytes / ChunkBytes * ChunkBytes;
        _buffer = (byte*)NativeMemory.AlignedAlloc((nuint)_bytes, 64);
        // Write every page once so that the reads hit real memory, not the shared zero page.
        for (long i = 0; i < _bytes; i += 4096) _buffer[i] = (byte)i;
    }

    public long Bytes => _bytes;

    /// <summary>Passes over the buffer in one <see cref="Measure"/>: the best of them is the figure.</summary>
    public const int Passes = 3;

    /// <summary>
    /// Reads the whole buffer <see cref="Passes"/> times on <paramref name="pool"/> and returns the best pass's bytes
    /// per second: on a shared machine a single pass that another virtual machine disturbs reads low, and a
    /// ceiling measured low would overstate the share of it that a decode reaches.
    /// </summary>
    public double Measure(WorkerPool pool)
    {
        double best = 0;
        for (int pass = 0; pass < Passes; pass++)
        {
            long start = Stopwatch.GetTimestamp();
            pool.For((int)(_bytes / ChunkBytes), 1, this);
            best = Math.Max(best, _bytes / Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        return best;
    }

    public void Run(int start, int end)
    {
        var sum = Vector256<long>.Zero;
        for (int chunk = start; chunk < end; chunk++)
        {
            var p = (Vector256<long>*)(_buffer + (long)chunk * ChunkBytes);
            for (int i = 0; i < ChunkBytes / 32; i += 4)
                sum += p[i] + p[i + 1] + p[i + 2] + p[i + 3];
        }
        // Keep the sum observable so the loads cannot be removed.
        _sinks[start & 63] += Vector256.Sum(sum);
    }

    public void Dispose() => NativeMemory.AlignedFree(_buffer);
}
