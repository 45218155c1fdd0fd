namespace SagePtq.Runtime.Cpu;

/// <summary>
/// Runs one or more prepared linears as a single parallel loop over all their rows, so that products
/// sharing an input (Q, K, V; gate, up) cost one barrier instead of three or two.
/// </summary>
internal sealed class LinearProducts : IRangeWork
{
    private readonly CpuLinear[] _linears = new CpuLinear[3];
    private readonly float[][] _outputs = new float[3][];
    private int _count;

    /// <summary>Prepares each linear from the same input and multiplies them all, output i into <paramref name="outputs"/>[i].</summary>
    public void Run(WorkerPool pool, ReadOnlySpan<float> input, int tokens, ReadOnlySpan<CpuLinear> linears, ReadOnlySpan<float[]> outputs)
    {
        _count = linears.Length;
        int rows = 0, granularity = 1;
        for (int i = 0; i < _count; i++)
        {
            linears[i].Prepare(input, tokens);
            _linears[i] = linears[i];
            _outputs[i] = outputs[i];
            rows += linears[i].Rows;
            granularity = Math.Max(granularity, linears[i].RowGranularity);
        }
        pool.For(rows, granularity, this);
        Array.Clear(_linears);
        Array.Clear(_outputs);
    }

    public void Run(int start, int end)
    {
        // Items are the rows of the linears one after another; a range may span two of them.
        int first = 0;
        for (int i = 0; i < _count && start < end; i++)
        {
            int rows = _linears[i].Rows;
            if (start < first + rows)
            {
                int stop = Math.Min(end, first + rows);
                _linears[i].Multiply(_outputs[i], start - first, stop - first);
                start = stop;
            }
            first += rows;
        }
    }
}
