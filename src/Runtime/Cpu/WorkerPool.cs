using System.Diagnostics;

namespace SagePtq.Runtime.Cpu;

/// <summary>The body of a <see cref="WorkerPool.For"/> loop: runs items [start, end).</summary>
public interface IRangeWork
{
    void Run(int start, int end);
}

/// <summary>
/// Persistent threads for the decode loop's parallel loops. A decode step is a few hundred products of
/// tens of microseconds each, so starting a Task (or Parallel.For) per product would cost more than the
/// product: here the workers stay alive, spin briefly on a generation counter between loops, and only
/// block on an event after <see cref="SpinMicroseconds"/> without work (so an idle model burns no CPU).
/// The calling thread takes part in every loop. Items are handed out in chunks from a shared counter, so
/// a thread slowed by another process on a shared machine does not hold the loop back, and a worker joins a
/// loop only while chunks are left: one the OS has not scheduled since the loop began is not waited for.
/// Chunks shrink as the loop runs (<see cref="ChunkUnits"/>), so the threads finish within a small chunk of
/// each other while the loop still costs about as many chunk starts as equal chunks would.
/// One loop at a time: <see cref="For"/> is not reentrant and not thread-safe.
/// </summary>
public sealed class WorkerPool : IDisposable
{
    /// <summary>How long an idle worker spins before it blocks.</summary>
    public const int SpinMicroseconds = 100;

    private readonly Worker[] _workers;
    private readonly long _spinTicks = Stopwatch.Frequency * SpinMicroseconds / 1_000_000;
    private IRangeWork? _work;
    private int _count, _granularity, _units, _nextUnit;
    private int _generation;

    // The current loop's admission word: bits 0–31 the workers inside it, bit 32 set once the caller has run
    // out of chunks (no one may join after), bits 33– the loop's generation (so a worker woken for an older
    // loop cannot join this one by mistake).
    private long _state;
    private const long InsideMask = 0xFFFF_FFFFL;
    private const long Closed = 1L << 32;
    private const int GenerationShift = 33;
    private const int GenerationMask = 0x3FFF_FFFF;
    private volatile bool _disposed;
    private Exception? _failure;

    /// <param name="threads">Threads in every loop, the caller included; 0 = <see cref="Environment.ProcessorCount"/>.</param>
    public WorkerPool(int threads = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(threads);
        Threads = threads == 0 ? Environment.ProcessorCount : threads;
        _workers = new Worker[Threads - 1];
        for (int i = 0; i < _workers.Length; i++) _workers[i] = new Worker(this, i);
    }

    /// <summary>Threads taking part in a loop, the caller included.</summary>
    public int Threads { get; }

    /// <summary>
    /// Runs <paramref name="work"/> over items [0, <paramref name="count"/>) on all threads and returns when
    /// every item is done. Ranges start at multiples of <paramref name="granularity"/>. The first exception
    /// of any thread is rethrown here, after the loop has stopped.
    /// </summary>
    public void For(int count, int granularity, IRangeWork work)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (count <= 0) return;
        granularity = Math.Max(1, granularity);
        int units = (count + granularity - 1) / granularity;
        if (_workers.Length == 0 || units == 1)
        {
            work.Run(0, count);
            return;
        }
        _work = work;
        _count = count;
        _granularity = granularity;
        _units = units;
        _nextUnit = 0;
        _failure = null;
        int generation = _generation + 1; // only the calling thread writes _generation
        Volatile.Write(ref _state, (long)(generation & GenerationMask) << GenerationShift);
        Interlocked.Exchange(ref _generation, generation); // a full fence: publishes the loop before any wake-up check
        foreach (var worker in _workers) worker.WakeIfSleeping();
        RunChunks();
        // Every chunk is taken: close the loop to latecomers and wait only for the workers inside it. A worker
        // the OS has not run since the loop began (a shared machine) costs nothing, instead of a time slice.
        Interlocked.Or(ref _state, Closed);
        var spinner = new SpinWait();
        while ((Volatile.Read(ref _state) & InsideMask) != 0) spinner.SpinOnce(sleep1Threshold: -1);
        _work = null;
        if (_failure is { } failure) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
    }

    private void RunChunks()
    {
        try
        {
            while (true)
            {
                int start = Volatile.Read(ref _nextUnit);
                if (start >= _units) return;
                int end = start + ChunkUnits(_units - start, _units, Threads);
                if (Interlocked.CompareExchange(ref _nextUnit, end, start) != start) continue;
                _work!.Run(start * _granularity, Math.Min(_count, end * _granularity));
            }
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref _failure, e, null);
            Volatile.Write(ref _nextUnit, int.MaxValue / 2); // the others stop taking chunks
        }
    }

    /// <summary>
    /// The next chunk's size in units when <paramref name="remaining"/> of <paramref name="units"/> are left: a
    /// <paramref name="threads"/>-th of what is left (guided scheduling), at most a quarter of a two-thread loop's
    /// work (so a thread the OS stops inside a chunk holds back little) and at least 1/64 of a thread's share (so
    /// the last chunks are short but not so many that their starts, each a cold read of weights, add up). With
    /// equal chunks of an eighth of the loop, one thread waited up to a whole chunk for the other at each barrier
    /// (gate and up of a 7B-shaped layer: 1.4 MB of weights, about 0.1 ms).
    /// </summary>
    internal static int ChunkUnits(int remaining, int units, int threads)
    {
        int most = Math.Max(1, units / (2 * threads)), least = Math.Max(1, units / (64 * threads));
        return Math.Min(remaining, Math.Clamp(remaining / threads, least, most));
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Interlocked.Increment(ref _generation);
        foreach (var worker in _workers) worker.Stop();
    }

    private sealed class Worker
    {
        private readonly WorkerPool _pool;
        private readonly Thread _thread;
        private readonly ManualResetEventSlim _wake = new(false, spinCount: 0);
        private int _sleeping;

        public Worker(WorkerPool pool, int index)
        {
            _pool = pool;
            _thread = new Thread(Loop) { IsBackground = true, Name = $"SagePtq worker {index + 1}" };
            _thread.Start();
        }

        public void WakeIfSleeping()
        {
            if (Volatile.Read(ref _sleeping) != 0) _wake.Set();
        }

        public void Stop()
        {
            _wake.Set();
            _thread.Join();
            _wake.Dispose();
        }

        private void Loop()
        {
            int seen = 0; // the generation at construction: no loop can have started before this thread
            while (true)
            {
                seen = WaitForGeneration(seen);
                if (_pool._disposed) return;
                if (!TryJoin(seen)) continue; // that loop is over (or closed): wait for the next one
                _pool.RunChunks();
                Interlocked.Decrement(ref _pool._state);
            }
        }

        /// <summary>Enters loop <paramref name="generation"/> if it is still the current one and still open.</summary>
        private bool TryJoin(int generation)
        {
            long expected = (long)(generation & GenerationMask) << GenerationShift;
            while (true)
            {
                long state = Volatile.Read(ref _pool._state);
                if ((state & ~InsideMask) != expected) return false; // another generation, or closed
                if (Interlocked.CompareExchange(ref _pool._state, state + 1, state) == state) return true;
            }
        }

        /// <summary>Spins, then blocks, until the pool's generation moves past <paramref name="seen"/>.</summary>
        private int WaitForGeneration(int seen)
        {
            long spinUntil = Stopwatch.GetTimestamp() + _pool._spinTicks;
            var spinner = new SpinWait();
            while (true)
            {
                int current = Volatile.Read(ref _pool._generation);
                if (current != seen) return current;
                if (Stopwatch.GetTimestamp() < spinUntil)
                {
                    spinner.SpinOnce(sleep1Threshold: -1);
                    continue;
                }
                // Announce the sleep, then look once more: the caller bumps the generation before it
                // checks _sleeping, and both sides use full fences, so one of them sees the other.
                _wake.Reset();
                Interlocked.Exchange(ref _sleeping, 1);
                current = Volatile.Read(ref _pool._generation);
                if (current == seen) _wake.Wait();
                Interlocked.Exchange(ref _sleeping, 0);
                spinUntil = Stopwatch.GetTimestamp() + _pool._spinTicks;
            }
        }
    }
}
