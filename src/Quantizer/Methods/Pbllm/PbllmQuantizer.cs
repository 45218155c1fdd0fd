using System.Numerics.Tensors;
using SagePtq.Quantizer.Methods.Billm;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Packing.Layouts;

namespace SagePtq.Quantizer.Methods.Pbllm;

/// <summary>
/// PB-LLM's post-training variant, PB-GPTQ (Shang et al., ICLR 2024; research/baselines.md §2.2), as its
/// code behaves, with the paper's per-row statistics by default:
/// <list type="number">
/// <item>an asymmetric min–max 8-bit grid per row, fitted once on the original weights;</item>
/// <item>the salient set: exactly ⌊fraction · rows · cols⌋ weights of largest w² / U_jj² (or |w|), chosen
/// once before compensation (ties go to the earlier position);</item>
/// <item>per row, the binarized weights' shift μ and scale α, fixed once;</item>
/// <item>the GPTQ loop, left to right: each weight becomes its 8-bit value or μ ± α, and the column's error,
/// divided by U_jj, is pushed to the later columns through U. Rows are independent, so each row runs
/// the whole loop on its own.</item>
/// </list>
/// </summary>
public sealed class PbllmQuantizer(PbllmOptions? options = null) : ILinearQuantizer
{
    private const int RowsPerChunk = 8;

    private readonly PbllmOptions _options = Validated(options ?? new PbllmOptions());

    /// <inheritdoc />
    public string Method => "pbllm";

    /// <inheritdoc />
    public bool NeedsHessian => _options.Compensate || _options.Saliency == PbllmSaliency.Hessian;

    /// <summary>The settings this quantizer runs with.</summary>
    public PbllmOptions Options => _options;

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The target is malformed or lacks a needed Hessian.</exception>
    /// <exception cref="InvalidDataException">A weight or Hessian entry is NaN or infinite.</exception>
    public QuantizedLinear Quantize(LinearTarget target)
    {
        TargetChecks.Validate(target, Method, NeedsHessian);
        int rows = target.Rows, cols = target.Cols;
        long count = (long)rows * cols;
        var weight = (float[])target.Weight.Clone();
        float[]? upper = NeedsHessian
            ? HessianFactor.PrepareUpperInverseFactor(target.Hessian!, cols, weight, rows, _options.DampFraction, target.Name)
            : null;

        var codes = new PbllmCodes(rows, cols, new bool[count], new bool[count], new byte[count],
            new Half[rows], new Half[rows], new Half[rows], new byte[rows]);
        for (int r = 0; r < rows; r++) FitHighGrid(target.Weight.AsSpan(r * cols, cols), out codes.HighScale[r], out codes.HighZero[r]);
        long salientCount = SelectSalient(weight, rows, cols, upper, codes.Salient);
        Parallel.For(0, rows, r => FitBinarizer(weight.AsSpan(r * cols, cols), codes.Salient.AsSpan(r * cols, cols),
            _options.StatisticsIncludeSalientZeros, out codes.BinaryAlpha[r], out codes.BinaryMean[r]));

        var dequantized = new float[count];
        int chunks = (rows + RowsPerChunk - 1) / RowsPerChunk;
        Parallel.For(0, chunks, chunk => QuantizeRows(chunk * RowsPerChunk, Math.Min(rows, (chunk + 1) * RowsPerChunk),
            weight, _options.Compensate ? upper : null, codes, dequantized));

        double ratio = (double)salientCount / count;
        var stats = new LinearStats(GroupCount: 2, SaliencyRatio: ratio, SalientCount: salientCount, SalientBits: PbllmLayout.HighBits,
            PaperBitsPerWeight: PbllmLayout.PaperBitsPerWeight(ratio));
        return new QuantizedLinear(PbllmLayout.Encode(codes), dequantized, stats);
    }

    /// <summary>
    /// GPTQ's per-row asymmetric min–max grid: the range [min(0, min w), max(0, max w)] in 255 steps, the step
    /// stored as FP16 (so the grid is fitted with the stored step) and zero = round(−min / step) clamped to a byte.
    /// </summary>
    internal static void FitHighGrid(ReadOnlySpan<float> row, out Half scale, out byte zero)
    {
        const int MaxCode = (1 << PbllmLayout.HighBits) - 1;
        float low = Math.Min(0, TensorPrimitives.Min(row)), high = Math.Max(0, TensorPrimitives.Max(row));
        if (low == 0 && high == 0) (low, high) = (-1, 1);
        scale = (Half)((high - low) / MaxCode);
        if ((float)scale <= 0) scale = Half.Epsilon;
        zero = (byte)Math.Clamp(MathF.Round(-low / (float)scale), 0, MaxCode);
    }

    /// <summary>The 8-bit code of <paramref name="value"/> on a row's grid: clamp(round(w / step) + zero, 0, 255).</summary>
    internal static byte HighCode(float value, Half scale, byte zero) =>
        (byte)Math.Clamp(MathF.Round(value / (float)scale) + zero, 0, (1 << PbllmLayout.HighBits) - 1);

    /// <summary>Marks exactly ⌊fraction · count⌋ weights of largest saliency, ties broken by position; returns the count.</summary>
    private long SelectSalient(float[] weight, int rows, int cols, float[]? upper, bool[] salient)
    {
        long count = (long)rows * cols;
        long wanted = (long)Math.Floor(_options.SalientFraction * count);
        if (wanted == 0) return 0;
        var score = new float[count];
        Parallel.For(0, rows, r =>
        {
            for (int c = 0; c < cols; c++)
            {
                float w = weight[r * cols + c];
                if (_options.Saliency == PbllmSaliency.Magnitude) score[r * cols + c] = Math.Abs(w);
                else
                {
                    float d = upper![(long)c * cols + c];
                    score[r * cols + c] = w * w / (d * d);
                }
            }
        });
        var sorted = (float[])score.Clone();
        Array.Sort(sorted);
        float threshold = sorted[count - wanted];
        long above = 0;
        foreach (float s in score) if (s > threshold) above++;
        long tiesToTake = wanted - above;
        for (long i = 0; i < count; i++)
        {
            if (score[i] > threshold) salient[i] = true;
            else if (score[i] == threshold && tiesToTake > 0)
            {
                salient[i] = true;
                tiesToTake--;
            }
        }
        return wanted;
    }

    /// <summary>A row's binarizer: μ the mean and α the mean |w − μ| of its binarized weights (or of every column, salient ones as 0).</summary>
    private static void FitBinarizer(ReadOnlySpan<float> row, ReadOnlySpan<bool> salient, bool includeSalientZeros, out Half alpha, out Half mean)
    {
        double sum = 0;
        int members = 0;
        for (int c = 0; c < row.Length; c++)
        {
            if (salient[c]) continue;
            sum += row[c];
            members++;
        }
        int denominator = includeSalientZeros ? row.Length : members;
        if (denominator == 0)
        {
            alpha = mean = Half.Zero;
            return;
        }
        double mu = sum / denominator, deviation = 0;
        for (int c = 0; c < row.Length; c++) deviation += salient[c] ? (includeSalientZeros ? Math.Abs(mu) : 0) : Math.Abs(row[c] - mu);
        alpha = (Half)(deviation / denominator);
        mean = (Half)mu;
    }

    /// <summary>The GPTQ loop over rows [first, last), column by column, reusing each row of U across the chunk.</summary>
    private static void QuantizeRows(int first, int last, float[] weight, float[]? upper, PbllmCodes codes, float[] dequantized)
    {
        int cols = codes.Cols;
        var work = new float[(last - first) * cols];
        Array.Copy(weight, (long)first * cols, work, 0, work.Length);
        for (int c = 0; c < cols; c++)
        {
            float diagonal = upper is null ? 1 : upper[(long)c * cols + c];
            for (int r = first; r < last; r++)
            {
                var row = work.AsSpan((r - first) * cols, cols);
                int index = r * cols + c;
                float w = row[c], q;
                if (codes.Salient[index])
                {
                    byte code = HighCode(w, codes.HighScale[r], codes.HighZero[r]);
                    codes.Codes[index] = code;
                    q = PbllmLayout.HighValue(codes.HighScale[r], codes.HighZero[r], code);
                }
                else
                {
                    bool positive = w >= (float)codes.BinaryMean[r];
                    codes.Positive[index] = positive;
                    q = PbllmLayout.BinaryValue(codes.BinaryAlpha[r], codes.BinaryMean[r], positive);
                }
                dequantized[index] = q;
                float error = (w - q) / diagonal;
                if (upper is not null && error != 0 && c + 1 < cols)
                {
                    var rest = row[(c + 1)..];
                    TensorPrimitives.MultiplyAdd(upper.AsSpan((int)((long)c * cols + c + 1), cols - c - 1), -error, rest, rest);
                }
            }
        }
    }

    private static PbllmOptions Validated(PbllmOptions options)
    {
        options.Validate();
        return options;
    }
}
