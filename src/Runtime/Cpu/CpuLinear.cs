namespace SagePtq.Runtime.Cpu;

/// <summary>
/// One linear y = W·x of a packed model, ready for the CPU kernels, its weights read straight from the
/// memory-mapped pack. A product takes two steps so that the worker pool can share the expensive one:
/// <list type="number">
/// <item><see cref="Prepare"/> (one thread): turns a batch of FP32 inputs into what the kernel reads
/// (rotated, scaled, quantized to int8 with per-block scales and sums...), into buffers of this instance;</item>
/// <item><see cref="Multiply"/> (the workers, each on its own row range): writes the outputs of those rows
/// for every prepared input.</item>
/// </list>
/// An instance holds the prepared batch, so it serves one product at a time; <see cref="Multiply"/> may
/// run concurrently on disjoint row ranges.
/// </summary>
public abstract class CpuLinear : IDisposable
{
    protected CpuLinear(string name, int rows, int cols, int maxTokens)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(cols, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTokens, 1);
        Name = name;
        Rows = rows;
        Cols = cols;
        MaxTokens = maxTokens;
    }

    /// <summary>The tensor name in the pack.</summary>
    public string Name { get; }

    /// <summary>Output features.</summary>
    public int Rows { get; }

    /// <summary>Input features.</summary>
    public int Cols { get; }

    /// <summary>Most inputs one <see cref="Prepare"/> takes (the prefill batch).</summary>
    public int MaxTokens { get; }

    /// <summary>Inputs of the last <see cref="Prepare"/>.</summary>
    public int PreparedTokens { get; protected set; }

    /// <summary>Bytes of the pack one full product reads (weights and their scales), for bandwidth figures.</summary>
    public abstract long WeightBytes { get; }

    /// <summary>Row ranges given to <see cref="Multiply"/> start at multiples of this (a kernel's row tile).</summary>
    public virtual int RowGranularity => 4;

    /// <summary>Takes <paramref name="tokens"/> inputs, <c>tokens × Cols</c> row-major.</summary>
    public abstract void Prepare(ReadOnlySpan<float> input, int tokens);

    /// <summary>
    /// Starts a <see cref="Prepare"/> that the threads of a loop can share (<see cref="LinearProducts"/>): this
    /// call does what needs the whole input and returns how many parts are left, which
    /// <see cref="PreparePart"/> then runs, each part once, on any threads, before one <see cref="EndPrepare"/>.
    /// 0 means that everything is prepared already: what this default does, by calling <see cref="Prepare"/>.
    /// </summary>
    internal virtual int BeginPrepare(ReadOnlySpan<float> input, int tokens)
    {
        Prepare(input, tokens);
        return 0;
    }

    /// <summary>Part <paramref name="part"/> of a prepare that <see cref="BeginPrepare"/> split; <paramref name="input"/> is the same.</summary>
    internal virtual void PreparePart(ReadOnlySpan<float> input, int part) =>
        throw new InvalidOperationException($"linear {Name} does not split its prepare");

    /// <summary>Completes a split prepare once all its parts have run.</summary>
    internal virtual void EndPrepare() =>
        throw new InvalidOperationException($"linear {Name} does not split its prepare");

    /// <summary>
    /// Writes rows [<paramref name="rowStart"/>, <paramref name="rowEnd"/>) of every prepared input's output:
    /// output[t·Rows + r] for t &lt; <see cref="PreparedTokens"/>. Other entries are not touched.
    /// </summary>
    public abstract void Multiply(Span<float> output, int rowStart, int rowEnd);

    /// <summary>Writes row <paramref name="row"/> of W as FP32 (embedding lookups, tests).</summary>
    public abstract void DecodeRow(int row, Span<float> destination);

    /// <summary>Prepare and multiply all rows on the calling thread (tests, small products).</summary>
    public void MultiplyAll(ReadOnlySpan<float> input, int tokens, Span<float> output)
    {
        Prepare(input, tokens);
        Multiply(output, 0, Rows);
    }

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees native buffers; the mapped weights belong to the pack.</summary>
    protected virtual void Dispose(bool disposing)
    {
    }
}
