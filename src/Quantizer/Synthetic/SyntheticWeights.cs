using System.Numerics.Tensors;
using SagePtq.Runtime.Generation;

namespace SagePtq.Quantizer.Synthetic;

/// <summary>
/// Seeded stand-ins for LLaMA weights, generated a block of rows at a time so that a 7B-size tensor is
/// never whole in memory. A decoder linear [rows, cols] is Laplace noise (heavier tails than a Gaussian,
/// as trained weights have) of standard deviation <see cref="LinearStd"/> / √cols, times a log-normal
/// scale per row and per input column, and a few input columns (<see cref="OutlierColumns"/>) scaled
/// 5-20× like the outlier channels of real LLaMA layers: saliency selection and grouping then have
/// real structure to find. Embedding and LM head are Laplace of std <see cref="VocabStd"/>; norms are
/// uniform in [0.9, 1.1]. Each row has its own generator seeded from the tensor seed and the row
/// index, so the values do not depend on the block size or on how many threads draw them.
/// </summary>
public sealed class SyntheticWeights
{
    /// <summary>√cols × the standard deviation of a linear's bulk (LLaMA-2-7B: about 0.02 at 4096 columns).</summary>
    public const float LinearStd = 1.3f;

    /// <summary>Standard deviation of the embedding and LM head values.</summary>
    public const float VocabStd = 0.02f;

    /// <summary>Spread (log-space standard deviation) of the row and column scales.</summary>
    private const double ScaleSpread = 0.25;

    private readonly int _cols;
    private readonly ulong _seed;
    private readonly float[] _columnScales;
    private readonly float[]? _rowScales;
    private readonly Kind _kind;

    private enum Kind { Linear, Vocab, Norm }

    private SyntheticWeights(Kind kind, int rows, int cols, ulong seed)
    {
        _kind = kind;
        _cols = cols;
        _seed = seed;
        Rows = rows;
        _columnScales = new float[cols];
        if (kind != Kind.Linear) return;

        var random = new SplitMix64(seed);
        float bulk = LinearStd / MathF.Sqrt(cols);
        for (int j = 0; j < cols; j++) _columnScales[j] = bulk * (float)Math.Exp(ScaleSpread * Gaussian(ref random));
        _rowScales = new float[rows];
        for (int i = 0; i < rows; i++) _rowScales[i] = (float)Math.Exp(ScaleSpread * Gaussian(ref random));
        // Distinct outlier columns (rejection of repeats keeps the draw order fixed for a seed).
        var chosen = new HashSet<int>();
        int outliers = OutlierColumns(cols);
        while (chosen.Count < outliers)
        {
            int column = (int)(random.NextUInt64() % (ulong)cols);
            if (chosen.Add(column)) _columnScales[column] *= (float)(5 + 15 * random.NextDouble());
        }
    }

    /// <summary>Rows of the tensor.</summary>
    public int Rows { get; }

    /// <summary>How many outlier input columns a linear with <paramref name="cols"/> inputs gets: one per 512, at least 2.</summary>
    public static int OutlierColumns(int cols) => Math.Min(cols, Math.Max(2, cols / 512));

    /// <summary>A decoder linear's weights [rows, cols].</summary>
    public static SyntheticWeights Linear(int rows, int cols, ulong seed) => Create(Kind.Linear, rows, cols, seed);

    /// <summary>An embedding or LM head [vocab, hidden].</summary>
    public static SyntheticWeights Vocab(int rows, int cols, ulong seed) => Create(Kind.Vocab, rows, cols, seed);

    /// <summary>An RMSNorm weight [size].</summary>
    public static SyntheticWeights Norm(int size, ulong seed) => Create(Kind.Norm, 1, size, seed);

    private static SyntheticWeights Create(Kind kind, int rows, int cols, ulong seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(cols, 1);
        return new SyntheticWeights(kind, rows, cols, seed);
    }

    /// <summary>Writes rows <paramref name="firstRow"/>.. into <paramref name="destination"/> (a whole number of rows, row-major).</summary>
    /// <exception cref="ArgumentException">The span is not a whole number of rows or runs past the last row.</exception>
    public void Fill(int firstRow, Span<float> destination)
    {
        if (destination.Length % _cols != 0) throw new ArgumentException($"{destination.Length} values are not whole rows of {_cols}", nameof(destination));
        int count = destination.Length / _cols;
        if (firstRow < 0 || firstRow + count > Rows) throw new ArgumentException($"rows {firstRow}..{firstRow + count} are outside [0, {Rows})", nameof(destination));
        unsafe
        {
            fixed (float* start = destination)
            {
                float* basePtr = start;   // a pointer, because a span cannot cross into the lambda
                Parallel.For(0, count, k => FillRow(firstRow + k, new Span<float>(basePtr + (long)k * _cols, _cols)));
            }
        }
    }

    private void FillRow(int row, Span<float> values)
    {
        var random = new SplitMix64(_seed ^ ((ulong)(row + 1) * 0xD1B54A32D192ED03UL));
        if (_kind == Kind.Norm)
        {
            for (int j = 0; j < values.Length; j++) values[j] = (float)(0.9 + 0.2 * random.NextDouble());
            return;
        }
        // Laplace by inversion: |x| = −b·ln(u), the sign from another bit; std = √2·b.
        var signs = new bool[values.Length];
        for (int j = 0; j < values.Length; j++)
        {
            ulong draw = random.NextUInt64();
            values[j] = ((draw >> 40) + 0.5f) * (1f / (1 << 24));   // in (0, 1), never 0
            signs[j] = (draw & 1) != 0;
        }
        TensorPrimitives.Log(values, values);
        float b = (_kind == Kind.Vocab ? VocabStd : 1f) / MathF.Sqrt(2);
        float rowScale = _rowScales?[row] ?? 1f;
        for (int j = 0; j < values.Length; j++)
        {
            float magnitude = -b * values[j] * rowScale * (_kind == Kind.Linear ? _columnScales[j] : 1f);
            values[j] = signs[j] ? magnitude : -magnitude;
        }
    }

    /// <summary>A standard normal draw (Box–Muller, one of the pair).</summary>
    private static double Gaussian(ref SplitMix64 random)
    {
        double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
