using SagePtq.Runtime.Cpu;

namespace SagePtq.Runtime.Tests.Cpu;

public sealed class WorkerPoolTests
{
    private sealed class CountingWork(int count) : IRangeWork
    {
        public int[] Hits { get; } = new int[count];
        public List<(int Start, int End)> Ranges { get; } = [];

        public void Run(int start, int end)
        {
            lock (Ranges) Ranges.Add((start, end));
            for (int i = start; i < end; i++) Interlocked.Increment(ref Hits[i]);
        }
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(2, 1, 1)]
    [InlineData(2, 1000, 4)]
    [InlineData(3, 1408, 4)]
    [InlineData(4, 7, 4)]
    [InlineData(2, 4097, 1)]
    public void Every_item_runs_exactly_once_in_ranges_aligned_to_the_granularity(int threads, int count, int granularity)
    {
        using var pool = new WorkerPool(threads);
        for (int round = 0; round < 20; round++)
        {
            var work = new CountingWork(count);
            pool.For(count, granularity, work);
            Assert.All(work.Hits, h => Assert.Equal(1, h));
            Assert.All(work.Ranges, r => Assert.Equal(0, r.Start % granularity));
        }
    }

    [Theory]
    [InlineData(256, 2)]    // a 4096-row sage linear in 16-row tiles
    [InlineData(1376, 2)]   // gate and up of a 7B-shaped layer
    [InlineData(8000, 2)]   // a 32,000-row LM head in 4-row groups
    [InlineData(32, 2)]
    [InlineData(5, 2)]
    [InlineData(1000, 3)]
    public void Chunks_shrink_from_at_most_a_quarter_to_a_small_last_one_and_cover_the_loop(int units, int threads)
    {
        var sizes = new List<int>();
        for (int remaining = units; remaining > 0; remaining -= sizes[^1])
            sizes.Add(WorkerPool.ChunkUnits(remaining, units, threads));

        Assert.Equal(units, sizes.Sum());
        Assert.All(sizes, s => Assert.InRange(s, 1, Math.Max(1, units / (2 * threads))));
        for (int i = 1; i < sizes.Count; i++) Assert.True(sizes[i] <= sizes[i - 1], $"chunk {i} ({sizes[i]}) is larger than the one before ({sizes[i - 1]})");
        Assert.True(sizes[^1] <= Math.Max(1, units / (64 * threads)), $"the last chunk is {sizes[^1]} of {units} units");
        // Each chunk start reads cold weights: the schedule must not degenerate into many tiny chunks.
        Assert.True(sizes.Count <= 2 * threads + 2 * (int)Math.Log2(units), $"{sizes.Count} chunks for {units} units");
    }

    /// <summary>Counts its items and records any call made while its loop is not running.</summary>
    private sealed class GuardedWork(int count) : IRangeWork
    {
        public int[] Hits { get; } = new int[count];
        public volatile bool Running;
        public int CallsOutsideTheLoop;

        public void Run(int start, int end)
        {
            if (!Running) Interlocked.Increment(ref CallsOutsideTheLoop);
            for (int i = start; i < end; i++)
            {
                Thread.SpinWait(100); // a chunk takes long enough for the caller to run out of chunks while a worker is inside one
                Interlocked.Increment(ref Hits[i]);
            }
        }
    }

    [Fact]
    public void Back_to_back_loops_never_run_work_outside_its_loop_even_with_late_workers()
    {
        // More threads than this machine's cores: workers are often not running when a loop starts, so many
        // loops finish without them and they arrive for a loop that is over, or for the next one.
        using var pool = new WorkerPool(6);
        var works = new[] { new GuardedWork(37), new GuardedWork(37) };
        for (int loop = 0; loop < 3000; loop++)
        {
            var work = works[loop & 1];
            Array.Clear(work.Hits);
            work.Running = true;
            pool.For(work.Hits.Length, 1, work);
            work.Running = false;
            Assert.All(work.Hits, h => Assert.Equal(1, h));
        }
        Assert.Equal(0, works[0].CallsOutsideTheLoop + works[1].CallsOutsideTheLoop);
    }

    [Fact]
    public void Sleeping_workers_wake_up_for_the_next_loop()
    {
        using var pool = new WorkerPool(2);
        for (int round = 0; round < 5; round++)
        {
            Thread.Sleep(5); // long past the spin time: the worker is blocked on its event
            var work = new CountingWork(10_000);
            pool.For(10_000, 1, work);
            Assert.All(work.Hits, h => Assert.Equal(1, h));
        }
    }

    private sealed class FailingWork : IRangeWork
    {
        public void Run(int start, int end)
        {
            if (start <= 500 && 500 < end) throw new InvalidOperationException("item 500");
        }
    }

    [Fact]
    public void An_exception_reaches_the_caller_and_the_pool_stays_usable()
    {
        using var pool = new WorkerPool(2);
        var e = Assert.Throws<InvalidOperationException>(() => pool.For(1000, 1, new FailingWork()));
        Assert.Equal("item 500", e.Message);
        var work = new CountingWork(1000);
        pool.For(1000, 1, work);
        Assert.All(work.Hits, h => Assert.Equal(1, h));
    }

    [Fact]
    public void Dispose_stops_the_workers_and_later_loops_are_refused()
    {
        var pool = new WorkerPool(3);
        pool.For(100, 1, new CountingWork(100));
        pool.Dispose();
        pool.Dispose();
        Assert.Throws<ObjectDisposedException>(() => pool.For(1, 1, new CountingWork(1)));
    }
}
