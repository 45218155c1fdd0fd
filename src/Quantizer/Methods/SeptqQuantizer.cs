using SagePtq.Quantizer.Numerics;
using SagePtq.Runtime.Packing.Layouts;

namespace SagePtq.Quantizer.Methods;

/// <summary>
/// Method <c>septq</c> (Liu et al., KDD 2025; research/septq.md): GPTQ with a static, global set of
/// reserved weights kept in FP16.
/// <list type="number">
/// <item>The grid is fitted once per (row, group) on the original weights, reserved ones included.</item>
/// <item>Every weight is scored S = (w − RTN(w))² / U[j, j]² (GPTQ's loss increase of rounding it,
/// evaluated before any compensation), and the <see cref="ReservedCount"/> highest scores of the
/// matrix are reserved: ties at the threshold go to the lowest flat index, so the count is exact
/// (the authors' code keeps ⌊m·n·p⌋ + 1 plus ties).</item>
/// <item>GPTQ's column loop runs with that fixed grid; a reserved weight keeps its current,
/// already-compensated value rounded to FP16, and only that (tiny) rounding error is propagated
/// (the authors' code keeps it exactly in FP32 and propagates nothing).</item>
/// </list>
/// </summary>
public sealed class SeptqQuantizer : ILinearQuantizer
{
    /// <summary>A SEPTQ quantizer.</summary>
    /// <param name="bits">Code width, 2..8.</param>
    /// <param name="reservedFraction">Fraction of each matrix kept in FP16, 0 ≤ p &lt; 1; the paper's default is 0.01.</param>
    /// <param name="groupSize">Columns per group, or −1 for one group per row (the paper's default).</param>
    /// <param name="range">How each group's range is chosen; the authors' code uses the MSE-clipped grid.</param>
    /// <param name="percentDamp">Damping relative to mean(diag H).</param>
    /// <param name="blockSize">Columns per lazy batch.</param>
    public SeptqQuantizer(int bits, double reservedFraction = 0.01, int groupSize = -1, GridRange range = GridRange.MseClipped,
        double percentDamp = 0.01, int blockSize = 128)
    {
        QuantizationGrid.CheckBits(bits);
        UniformTarget.CheckGroupSize(groupSize);
        if (!(reservedFraction >= 0 && reservedFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(reservedFraction), reservedFraction, "reserved fraction must be in [0, 1)");
        if (!(percentDamp > 0) || !double.IsFinite(percentDamp))
            throw new ArgumentOutOfRangeException(nameof(percentDamp), percentDamp, "percdamp must be positive and finite");
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blockSize);
        if (!Enum.IsDefined(range)) throw new ArgumentOutOfRangeException(nameof(range), range, "unknown grid range");
        (Bits, ReservedFraction, GroupSize, Range, PercentDamp, BlockSize) = (bits, reservedFraction, groupSize, range, percentDamp, blockSize);
    }

    /// <inheritdoc />
    public string Method => "septq";

    /// <inheritdoc />
    public bool NeedsHessian => true;

    /// <summary>Code width.</summary>
    public int Bits { get; }

    /// <summary>Fraction of each matrix kept in FP16.</summary>
    public double ReservedFraction { get; }

    /// <summary>Columns per group; −1 = one group per row.</summary>
    public int GroupSize { get; }

    /// <summary>How each group's range is chosen.</summary>
    public GridRange Range { get; }

    /// <summary>Damping relative to mean(diag H).</summary>
    public double PercentDamp { get; }

    /// <summary>Columns per lazy batch.</summary>
    public int BlockSize { get; }

    /// <summary>Weights reserved in a rows × cols matrix: ⌊p · rows · cols⌋.</summary>
    public long ReservedCount(int rows, int cols) => (long)Math.Floor(ReservedFraction * rows * cols);

    /// <inheritdoc />
    public QuantizedLinear Quantize(LinearTarget target)
    {
        TargetChecks.Validate(target, Method, needsHessian: true);
        int rows = target.Rows, cols = target.Cols, maxCode = (1 << Bits) - 1;
        var factor = InverseHessianFactor.Compute(target.Hessian, cols, PercentDamp, actOrder: false);
        var work = GptqQuantizer.Permuted(target.Weight, rows, cols, [.. Enumerable.Range(0, cols)], factor.DeadColumns);

        int groupSize = UniformTarget.EffectiveGroupSize(GroupSize, cols), groups = (cols + groupSize - 1) / groupSize;
        var grids = new GroupGrid[(long)rows * groups];
        var scores = new float[work.Length];
        UniformTarget.ParallelFor(target.Name, rows, r =>
        {
            for (int g = 0; g < groups; g++)
            {
                int start = g * groupSize, length = Math.Min(groupSize, cols - start);
                var grid = grids[r * groups + g] = QuantizationGrid.Fit(work.AsSpan(r * cols + start, length), Bits, Range);
                for (int j = start; j < start + length; j++)
                {
                    float w = work[r * cols + j], d = (float)factor.Upper[(long)j * cols + j];
                    float error = w - QuantizationGrid.Value(QuantizationGrid.Code(w, grid, maxCode), grid);
                    scores[r * cols + j] = error * error / (d * d);
                }
            }
        });
        var reserved = SelectTop(scores, ReservedCount(rows, cols));

        var loop = new GptqColumnLoop
        {
            Work = work, Rows = rows, Cols = cols, Upper = GptqQuantizer.ToFloat(factor.Upper), Bits = Bits, GroupSize = groupSize,
            BlockSize = BlockSize, Range = Range, StaticGrids = true, Grids = grids, Reserved = reserved,
            Codes = new byte[work.Length], Values = new float[work.Length],
        };
        loop.Run(target.Name);

        var reservedIndex = new List<uint>();
        var reservedValue = new List<Half>();
        for (int k = 0; k < reserved.Length; k++)
            if (reserved[k]) { reservedIndex.Add((uint)k); reservedValue.Add((Half)loop.Values[k]); }
        var weights = new UniformWeights(rows, cols, Bits, groupSize, loop.Codes,
            [.. grids.Select(g => g.Scale)], [.. grids.Select(g => (byte)g.Zero)], null, [.. reservedIndex], [.. reservedValue]);
        return UniformTarget.Build(weights, loop.Values);
    }

    /// <summary>Marks exactly <paramref name="count"/> entries: the highest scores, ties to the lowest index.</summary>
    internal static bool[] SelectTop(float[] scores, long count)
    {
        var selected = new bool[scores.Length];
        if (count <= 0) return selected;
        var sorted = (float[])scores.Clone();
        Array.Sort(sorted);
        float threshold = sorted[^(int)count];
        long taken = 0;
        for (int k = 0; k < scores.Length; k++)
            if (scores[k] > threshold) { selected[k] = true; taken++; }
        for (int k = 0; k < scores.Length && taken < count; k++)
            if (scores[k] == threshold) { selected[k] = true; taken++; }
        return selected;
    }
}
