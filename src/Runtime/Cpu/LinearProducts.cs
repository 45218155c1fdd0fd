using System.Runtime.ExceptionServices;

namespace SagePtq.Runtime.Cpu;

/// <summary>
/// Runs one or more linears that share an input (Q, K, V; gate, up) as a single parallel loop over all their
/// rows, so that they cost one barrier instead of three or two. Their prepares run inside that loop too: every
/// thread that takes a chunk first claims whichever prepares nobody has started, so a worker that joins while the
/// caller prepares the first linear prepares the next ones, and a thread waits only for the linears its own rows
/// belong to. A linear that splits its prepare (<see cref="CpuLinear.BeginPrepare"/>) is not waited for idly:
/// after its first step every thread that needs it takes parts until none are left (a single o_proj or down_proj
/// would otherwise leave the other thread spinning for the whole prepare). Each step runs once and writes only its
/// own linear's buffers (each part its own blocks), so the results are the same whichever threads run them.
/// </summary>
internal sealed class LinearProducts : IRangeWork
{
    // A linear's prepare: nobody has claimed it; its first step runs; its parts are open to every thread; done.
    private const int NotStarted = 0, Running = 1, Parts = 2, Done = 3, Failed = 4;

    private readonly CpuLinear[] _linears = new CpuLinear[3];
    private readonly float[][] _outputs = new float[3][];
    private readonly int[] _prepared = new int[3];
    private readonly int[] _parts = new int[3], _nextPart = new int[3], _partsDone = new int[3];
    private ReadOnlyMemory<float> _input;
    private int _tokens, _count;
    private ExceptionDispatchInfo? _prepareFailure;

    /// <summary>Prepares each linear from the same input and multiplies them all, output i into <paramref name="outputs"/>[i].</summary>
    public void Run(WorkerPool pool, ReadOnlyMemory<float> input, int tokens, ReadOnlySpan<CpuLinear> linears, ReadOnlySpan<float[]> outputs)
    {
        if (linears.Length is < 1 or > 3 || outputs.Length != linears.Length)
            throw new ArgumentException($"1 to 3 linears with one output each, got {linears.Length} and {outputs.Length}", nameof(linears));
        _count = linears.Length;
        _input = input;
        _tokens = tokens;
        _prepareFailure = null;
        int rows = 0, granularity = 1;
        for (int i = 0; i < _count; i++)
        {
            _linears[i] = linears[i];
            _outputs[i] = outputs[i];
            _prepared[i] = NotStarted;
            rows += linears[i].Rows;
            granularity = Math.Max(granularity, linears[i].RowGranularity);
        }
        try
        {
            pool.For(rows, granularity, this);
        }
        finally
        {
            Array.Clear(_linears);
            Array.Clear(_outputs);
            _input = default;
        }
    }

    public void Run(int start, int end)
    {
        for (int i = 0; i < _count; i++) TryPrepare(i);
        // Items are the rows of the linears one after another; a range may span two of them.
        int first = 0;
        for (int i = 0; i < _count && start < end; i++)
        {
            int rows = _linears[i].Rows;
            if (start < first + rows)
            {
                int stop = Math.Min(end, first + rows);
                WaitPrepared(i);
                _linears[i].Multiply(_outputs[i], start - first, stop - first);
                start = stop;
            }
            first += rows;
        }
    }

    /// <summary>Runs linear <paramref name="i"/>'s prepare (or its first step, then parts of it) if no thread has started it.</summary>
    private void TryPrepare(int i)
    {
        if (Volatile.Read(ref _prepared[i]) != NotStarted || Interlocked.CompareExchange(ref _prepared[i], Running, NotStarted) != NotStarted) return;
        int parts;
        try
        {
            parts = _linears[i].BeginPrepare(_input.Span, _tokens);
        }
        catch (Exception e)
        {
            Fail(i, e);
            throw;
        }
        if (parts == 0)
        {
            Volatile.Write(ref _prepared[i], Done);   // publishes the prepared buffers to the threads that read Done
            return;
        }
        (_parts[i], _nextPart[i], _partsDone[i]) = (parts, 0, 0);
        Volatile.Write(ref _prepared[i], Parts);      // publishes the first step's results to the threads that take parts
        TakeParts(i);
    }

    /// <summary>Runs parts of linear <paramref name="i"/>'s prepare until none are left; whoever finishes the last one ends it.</summary>
    private void TakeParts(int i)
    {
        int parts = _parts[i], part;
        while ((part = Interlocked.Increment(ref _nextPart[i]) - 1) < parts)
        {
            try
            {
                _linears[i].PreparePart(_input.Span, part);
                if (Interlocked.Increment(ref _partsDone[i]) != parts) continue;   // a full fence: every part's writes are seen below
                _linears[i].EndPrepare();
            }
            catch (Exception e)
            {
                Fail(i, e);
                throw;
            }
            Volatile.Write(ref _prepared[i], Done);
        }
    }

    /// <summary>The threads waiting for linear <paramref name="i"/> rethrow the same exception: the pool reports it whoever records it first.</summary>
    private void Fail(int i, Exception e)
    {
        _prepareFailure = ExceptionDispatchInfo.Capture(e);
        Volatile.Write(ref _prepared[i], Failed);
    }

    /// <summary>Returns once linear <paramref name="i"/> is prepared, taking parts of its prepare while there are any.</summary>
    private void WaitPrepared(int i)
    {
        var spinner = new SpinWait();
        int state;
        while ((state = Volatile.Read(ref _prepared[i])) is Running or Parts)
        {
            if (state == Parts && Volatile.Read(ref _nextPart[i]) < _parts[i]) TakeParts(i);
            else spinner.SpinOnce(sleep1Threshold: -1);   // its first step, or its last parts on other threads
        }
        if (state == Failed) _prepareFailure!.Throw();
    }
}
