using SagePtq.Runtime.Packing.Layouts;

namespace SagePtq.Quantizer.Methods;

/// <summary>
/// Method <c>rtn</c>: data-free round-to-nearest on a uniform asymmetric grid fitted per group of
/// <see cref="GroupSize"/> consecutive input columns of each row (−1: one group per row).
/// </summary>
public sealed class RoundToNearestQuantizer : ILinearQuantizer
{
    /// <summary>A round-to-nearest quantizer.</summary>
    /// <param name="bits">Code width, 2..8.</param>
    /// <param name="groupSize">Columns per group, or −1 for one group per row. Default 64, as the anchors' RTN rows.</param>
    /// <param name="range">How each group's range is chosen.</param>
    public RoundToNearestQuantizer(int bits, int groupSize = 64, GridRange range = GridRange.MinMaxWithZero)
    {
        QuantizationGrid.CheckBits(bits);
        UniformTarget.CheckGroupSize(groupSize);
        if (!Enum.IsDefined(range)) throw new ArgumentOutOfRangeException(nameof(range), range, "unknown grid range");
        (Bits, GroupSize, Range) = (bits, groupSize, range);
    }

    /// <inheritdoc />
    public string Method => "rtn";

    /// <inheritdoc />
    public bool NeedsHessian => false;

    /// <summary>Code width.</summary>
    public int Bits { get; }

    /// <summary>Columns per group; −1 = one group per row.</summary>
    public int GroupSize { get; }

    /// <summary>How each group's range is chosen.</summary>
    public GridRange Range { get; }

    /// <inheritdoc />
    public QuantizedLinear Quantize(LinearTarget target)
    {
        TargetChecks.Validate(target, Method, needsHessian: false);
        int rows = target.Rows, cols = target.Cols, maxCode = (1 << Bits) - 1;
        int groupSize = UniformTarget.EffectiveGroupSize(GroupSize, cols), groups = (cols + groupSize - 1) / groupSize;
        var codes = new byte[(long)rows * cols];
        var values = new float[(long)rows * cols];
        var scales = new Half[(long)rows * groups];
        var zeros = new byte[(long)rows * groups];
        UniformTarget.ParallelFor(target.Name, rows, r =>
        {
            for (int g = 0; g < groups; g++)
            {
                int start = r * cols + g * groupSize, length = Math.Min(groupSize, cols - g * groupSize);
                var grid = QuantizationGrid.Fit(target.Weight.AsSpan(start, length), Bits, Range);
                scales[r * groups + g] = grid.Scale;
                zeros[r * groups + g] = (byte)grid.Zero;
                for (int k = start; k < start + length; k++)
                {
                    int code = QuantizationGrid.Code(target.Weight[k], grid, maxCode);
                    codes[k] = (byte)code;
                    values[k] = QuantizationGrid.Value(code, grid);
                }
            }
        });
        var weights = new UniformWeights(rows, cols, Bits, groupSize, codes, scales, zeros, null, [], []);
        return UniformTarget.Build(weights, values);
    }
}
