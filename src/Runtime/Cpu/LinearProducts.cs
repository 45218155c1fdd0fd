using System.Runtime.ExceptionServices;

namespace SagePtq.Runtime.Cpu;

/// <summary>
/// Runs one or more linears that share an input (Q, K, V; gate, up) as a single parallel loop over all their
/// rows, so that they cost one barrier instead of three or two. Their <see cref="CpuLinear.Prepare"/> steps run
/// inside that loop too: every thread that takes a chunk first claims whichever prepares nobody has started, so
/// a worker that joins while the caller prepares the first linear prepares the next ones, and a thread waits only
/// for the linears its own rows belong to. Each prepare runs once and writes only its own linear's buffers, so
/// the results are the same whichever thread runs it.
/// </summary>
internal sealed class LinearProducts : IRangeWork
{
    private const int NotStarted = 0, Running = 1, Done = 2, Failed = 3;

    private readonly CpuLinear[] _linears = new CpuLinear[3];
    private readonly float[][] _outputs = new float[3][];
    private readonly int[] _prepared = new int[3];
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

    /// <summary>Runs linear <paramref name="i"/>'s prepare if no thread has started it.</summary>
    private void TryPrepare(int i)
    {
        if (Volatile.Read(ref _prepared[i]) != NotStarted || Interlocked.CompareExchange(ref _prepared[i], Running, NotStarted) != NotStarted) return;
        try
        {
            _linears[i].Prepare(_input.Span, _tokens);
        }
        catch (Exception e)
        {
            // The threads waiting for this linear rethrow the same exception: the pool reports it whoever records it first.
            _prepareFailure = ExceptionDispatchInfo.Capture(e);
            Volatile.Write(ref _prepared[i], Failed);
            throw;
        }
        Volatile.Write(ref _prepared[i], Done);   // publishes the prepared buffers to the threads that read Done
    }

    private void WaitPrepared(int i)
    {
        var spinner = new SpinWait();
        int state;
        while ((state = Volatile.Read(ref _prepared[i])) == Running) spinner.SpinOnce(sleep1Threshold: -1);
        if (state == Failed) _prepareFailure!.Throw();
    }
}
