using System.Numerics.Tensors;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Packing.Layouts;

namespace SagePtq.Quantizer.Methods.Billm;

/// <summary>
/// BiLLM (Huang et al., ICML 2024) as its official code behaves (research/baselines.md §1.3): for each
/// block of 128 input columns, on the weights as already compensated for earlier blocks,
/// <list type="number">
/// <item>saliency S = w² / U_jj² (U the upper Cholesky factor of the damped H⁻¹);</item>
/// <item>the salient columns: the k columns of largest Σ_rows S, k searched over 1 … 49 to minimise the
/// error of order-2 binarization of S on both sides;</item>
/// <item>the break-point: among 81 quantiles (0.10 … 0.90) of the non-salient S, the one whose
/// concentrated (S &lt; p) / sparse (S ≥ p) split, each binarized with order 1, gives the least error in S;</item>
/// <item>the weights themselves binarized per row with those three regions (orders 1, 1, 2, each with
/// scale and shift) and stored as FP16;</item>
/// <item>the block's error, each column divided by U_jj (no update inside the block, as the code does),
/// pushed to the later columns through U; <see cref="BillmOptions.ExactBlockCompensation"/> swaps in the
/// exact block solve instead (not BiLLM: an improvement research/baselines.md §1.3 names).</item>
/// </list>
/// </summary>
public sealed class BillmQuantizer(BillmOptions? options = null) : ILinearQuantizer
{
    private readonly BillmOptions _options = Validated(options ?? new BillmOptions());

    /// <inheritdoc />
    public string Method => "billm";

    /// <inheritdoc />
    public bool NeedsHessian => true;

    /// <summary>The settings this quantizer runs with.</summary>
    public BillmOptions Options => _options;

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The target is malformed or lacks a needed Hessian.</exception>
    /// <exception cref="InvalidDataException">A weight or Hessian entry is NaN or infinite.</exception>
    public QuantizedLinear Quantize(LinearTarget target)
    {
        TargetChecks.Validate(target, Method, needsHessian: true);
        int rows = target.Rows, cols = target.Cols, blockSize = _options.BlockSize;
        var weight = (float[])target.Weight.Clone();
        var upper = HessianFactor.PrepareUpperInverseFactor(target.Hessian!, cols, weight, rows, _options.DampFraction, target.Name);

        long count = (long)rows * cols;
        int blocks = BillmLayout.BlockCount(cols, blockSize);
        var codes = new BillmCodes(rows, cols, blockSize, new bool[cols], new bool[count], new bool[count], new bool[count],
            new Half[(long)blocks * rows * BillmLayout.ScalesPerRowBlock]);
        var dequantized = new float[count];

        for (int block = 0; block < blocks; block++)
        {
            int start = block * blockSize, width = Math.Min(blockSize, cols - start), end = start + width;
            var diagonal = new float[width];
            for (int j = 0; j < width; j++) diagonal[j] = upper[(long)(start + j) * cols + start + j];

            var saliency = new float[rows * width];
            Parallel.For(0, rows, r =>
            {
                for (int j = 0; j < width; j++)
                {
                    float w = weight[(long)r * cols + start + j];
                    saliency[r * width + j] = w * w / (diagonal[j] * diagonal[j]);
                }
            });

            var salient = SearchSalientColumns(saliency, rows, width);
            for (int j = 0; j < width; j++) codes.SalientColumns[start + j] = salient[j];
            float breakPoint = SearchBreakPoint(saliency, rows, width, salient);

            var blockError = new float[rows * width];
            Parallel.For(0, rows, r => BinarizeRow(r, block, start, width, weight, saliency, salient, breakPoint,
                codes, dequantized, blockError));

            if (end < cols)
            {
                Parallel.For(0, rows, r => CompensateLaterColumns(blockError.AsSpan(r * width, width),
                    weight.AsSpan((int)((long)r * cols + end), cols - end), upper, cols, start, _options.ExactBlockCompensation));
            }
        }

        long salientCount = (long)rows * codes.SalientColumns.Count(s => s);
        double ratio = (double)salientCount / count;
        var stats = new LinearStats(GroupCount: 3, SaliencyRatio: ratio, SalientCount: salientCount, SalientBits: 2,
            PaperBitsPerWeight: BillmLayout.PaperBitsPerWeight(ratio));
        return new QuantizedLinear(BillmLayout.Encode(codes), dequantized, stats);
    }

    /// <summary>
    /// The salient columns of one block: the k of largest total saliency, k minimising
    /// Σ (S − R₂(S, salient) − R₂(S, rest))² (the code binarizes both sides with order 2 in this search).
    /// </summary>
    internal bool[] SearchSalientColumns(float[] saliency, int rows, int width)
    {
        var score = new double[width];
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < width; j++) score[j] += saliency[r * width + j];
        var order = Enumerable.Range(0, width).OrderByDescending(j => score[j]).ThenBy(j => j).ToArray();

        int best = 1;
        int candidates = Math.Min(_options.SalientSearchLimit - 1, width - 1);
        if (candidates > 1)
        {
            var errors = new double[(long)rows * candidates];
            Parallel.For(0, rows, r =>
            {
                Span<float> permuted = stackalloc float[width];
                for (int i = 0; i < width; i++) permuted[i] = saliency[r * width + order[i]];
                for (int k = 1; k <= candidates; k++)
                {
                    errors[(long)r * candidates + k - 1] =
                        ResidualBinarizer.SquaredError(permuted[..k], 2) + ResidualBinarizer.SquaredError(permuted[k..], 2);
                }
            });
            best = ArgMinOfRowSums(errors, rows, candidates) + 1;
        }
        var salient = new bool[width];
        for (int i = 0; i < best; i++) salient[order[i]] = true;
        return salient;
    }

    /// <summary>
    /// The break-point p of one block: the candidate (a linear-interpolated quantile of |S| over the block with
    /// zeros at salient positions, as the code takes it) minimising the error of order-1 binarization of the
    /// concentrated (S &lt; p) and sparse (S ≥ p) non-salient saliencies, plus the fixed salient term.
    /// </summary>
    internal float SearchBreakPoint(float[] saliency, int rows, int width, bool[] salient)
    {
        var flattened = new float[saliency.Length];
        for (int i = 0; i < saliency.Length; i++) flattened[i] = salient[i % width] ? 0 : Math.Abs(saliency[i]);
        Array.Sort(flattened);
        int candidates = _options.BreakPointCandidates;
        var thresholds = new float[candidates];
        for (int c = 0; c < candidates; c++)
        {
            double quantile = candidates == 1 ? 0.5 : 0.1 + 0.8 * c / (candidates - 1);
            thresholds[c] = Quantile(flattened, quantile);
        }

        int salientWidth = salient.Count(s => s);
        var errors = new double[(long)rows * candidates];
        Parallel.For(0, rows, r =>
        {
            Span<float> rest = stackalloc float[width - salientWidth];
            Span<float> top = stackalloc float[salientWidth];
            int nr = 0, ns = 0;
            for (int j = 0; j < width; j++)
            {
                float s = saliency[r * width + j];
                if (salient[j]) top[ns++] = s;
                else rest[nr++] = s;
            }
            rest.Sort();
            double salientError = ResidualBinarizer.SquaredError(top, 2);
            for (int c = 0; c < candidates; c++)
            {
                int split = LowerBound(rest, thresholds[c]);
                errors[(long)r * candidates + c] = salientError
                    + ResidualBinarizer.SquaredError(rest[..split], 1) + ResidualBinarizer.SquaredError(rest[split..], 1);
            }
        });
        return thresholds[ArgMinOfRowSums(errors, rows, candidates)];
    }

    /// <summary>Binarizes row r of one block with its three regions, writes codes, scales and values, and the error w − ŵ.</summary>
    private static void BinarizeRow(int r, int block, int start, int width, float[] weight, float[] saliency, bool[] salient,
        float breakPoint, BillmCodes codes, float[] dequantized, float[] blockError)
    {
        int cols = codes.Cols;
        long rowStart = (long)r * cols + start;
        Span<float> values = stackalloc float[width];
        Span<int> columns = stackalloc int[width];
        Span<bool> positive1 = stackalloc bool[width];
        Span<bool> positive2 = stackalloc bool[width];
        // Regions packed back to back in `values`: concentrated, then sparse, then salient.
        int concentrated = 0, sparse = 0, n = 0;
        for (int pass = 0; pass < 3; pass++)
        {
            for (int j = 0; j < width; j++)
            {
                int region = salient[j] ? 2 : saliency[r * width + j] >= breakPoint ? 1 : 0;
                if (region != pass) continue;
                columns[n] = j;
                values[n++] = weight[rowStart + j];
            }
            if (pass == 0) concentrated = n;
            else if (pass == 1) sparse = n - concentrated;
        }

        var fitConcentrated = ResidualBinarizer.FitRegion(values[..concentrated], 1, positive1[..concentrated], default);
        var fitSparse = ResidualBinarizer.FitRegion(values.Slice(concentrated, sparse), 1, positive1.Slice(concentrated, sparse), default);
        int first = concentrated + sparse;
        var fitSalient = ResidualBinarizer.FitRegion(values[first..n], 2, positive1[first..n], positive2[first..n]);

        var scales = codes.Scales.AsSpan((int)(((long)block * codes.Rows + r) * BillmLayout.ScalesPerRowBlock), BillmLayout.ScalesPerRowBlock);
        scales[(int)BillmScale.ConcentratedAlpha] = (Half)fitConcentrated.Alpha1;
        scales[(int)BillmScale.ConcentratedMean] = (Half)fitConcentrated.Mean;
        scales[(int)BillmScale.SparseAlpha] = (Half)fitSparse.Alpha1;
        scales[(int)BillmScale.SparseMean] = (Half)fitSparse.Mean;
        scales[(int)BillmScale.SalientAlpha1] = (Half)fitSalient.Alpha1;
        scales[(int)BillmScale.SalientAlpha2] = (Half)fitSalient.Alpha2;
        scales[(int)BillmScale.SalientMean] = (Half)fitSalient.Mean;

        for (int i = 0; i < n; i++)
        {
            int j = columns[i];
            long index = rowStart + j;
            codes.Positive[index] = positive1[i];
            float value;
            if (i >= first)
            {
                codes.ResidualPositive[index] = positive2[i];
                value = BillmLayout.SalientValue(scales[(int)BillmScale.SalientAlpha1], scales[(int)BillmScale.SalientAlpha2],
                    scales[(int)BillmScale.SalientMean], positive1[i], positive2[i]);
            }
            else if (i >= concentrated)
            {
                codes.Sparse[index] = true;
                value = BillmLayout.NonSalientValue(scales[(int)BillmScale.SparseAlpha], scales[(int)BillmScale.SparseMean], positive1[i]);
            }
            else
            {
                value = BillmLayout.NonSalientValue(scales[(int)BillmScale.ConcentratedAlpha], scales[(int)BillmScale.ConcentratedMean], positive1[i]);
            }
            dequantized[index] = value;
            blockError[r * width + j] = values[i] - value;
        }
    }

    /// <summary>
    /// Compensates the columns after one row's block (<paramref name="later"/>, overwritten) for its error
    /// δ = w − ŵ (<paramref name="error"/>, overwritten with e): later −= e · U[block, later], where BiLLM's e_j = δ_j / U_jj (the diagonal only), or the exact e = δ·U_bb⁻¹ by forward
    /// substitution (e_j = (δ_j − Σ_i&lt;j e_i U_ij) / U_jj), the optimum for later columns given the whole block.
    /// </summary>
    internal static void CompensateLaterColumns(Span<float> error, Span<float> later, float[] upper, int cols, int start, bool exact)
    {
        ScaleError(error, upper, cols, start, exact);
        int end = cols - later.Length;
        for (int j = 0; j < error.Length; j++)
        {
            if (error[j] != 0) TensorPrimitives.MultiplyAdd(upper.AsSpan((int)((long)(start + j) * cols + end), later.Length), -error[j], later, later);
        }
    }

    private static void ScaleError(Span<float> error, float[] upper, int cols, int start, bool exact)
    {
        for (int j = 0; j < error.Length; j++)
        {
            long column = start + j;
            float value = error[j];
            if (exact)
            {
                for (int i = 0; i < j; i++) value -= error[i] * upper[(start + i) * (long)cols + column];
            }
            error[j] = value / upper[column * cols + column];
        }
    }

    /// <summary>numpy's default ("linear") quantile of ascending <paramref name="sorted"/>.</summary>
    internal static float Quantile(ReadOnlySpan<float> sorted, double q)
    {
        double position = q * (sorted.Length - 1);
        int low = (int)Math.Floor(position);
        if (low >= sorted.Length - 1) return sorted[^1];
        double t = position - low;
        return (float)(sorted[low] + (sorted[low + 1] - (double)sorted[low]) * t);
    }

    /// <summary>The first index whose value is ≥ <paramref name="threshold"/> in ascending <paramref name="sorted"/>.</summary>
    private static int LowerBound(ReadOnlySpan<float> sorted, float threshold)
    {
        int low = 0, high = sorted.Length;
        while (low < high)
        {
            int mid = (low + high) >>> 1;
            if (sorted[mid] < threshold) low = mid + 1;
            else high = mid;
        }
        return low;
    }

    /// <summary>The first candidate with the least total over rows (summed in row order, so the choice is deterministic).</summary>
    private static int ArgMinOfRowSums(double[] errors, int rows, int candidates)
    {
        int best = 0;
        double bestTotal = double.PositiveInfinity;
        for (int c = 0; c < candidates; c++)
        {
            double total = 0;
            for (int r = 0; r < rows; r++) total += errors[(long)r * candidates + c];
            if (total < bestTotal)
            {
                bestTotal = total;
                best = c;
            }
        }
        return best;
    }

    private static BillmOptions Validated(BillmOptions options)
    {
        options.Validate();
        return options;
    }
}
