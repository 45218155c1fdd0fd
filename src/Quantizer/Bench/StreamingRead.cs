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

    /// <summary>Reads the whole buffer once on <paramref name="pool"/> and returns bytes per second.</summary>
    public double Measure(WorkerPool pool)
    {
        long start = Stopwatch.GetTimestamp();
        pool.For((int)(_bytes / ChunkBytes), 1, this);
        return _bytes / Stopwatch.GetElapsedTime(start).TotalSeconds;
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
