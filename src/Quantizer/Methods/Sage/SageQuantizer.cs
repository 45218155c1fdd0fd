using SagePtq.Quantizer.Numerics;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Packing.Layouts;

namespace SagePtq.Quantizer.Methods.Sage;

/// <summary>
/// SAGE-PTQ for one linear (DESIGN.md §5): saliency filtering, affinity grouping by spectral
/// clustering, a dual-mode quantizer (multi-bit salient, binarized rest) with alternating refinement,
/// and the saliency ratio searched per matrix by Brent's method under a storage-bit budget. Data-free
/// without a Hessian (weight MSE); with one, diag(H)-weighted fitting and GPTQ-style compensation.
/// The output is a <see cref="SageLayout"/> payload and exactly what it decodes to.
/// A row of zeros quantizes to zeros in the RowTimesGroup and PerRowGroup modes (its scalars fit to 0);
/// PerGroup shares scalars across rows, so a zero row there becomes ±α.
/// </summary>
public sealed class SageQuantizer : ILinearQuantizer
{
    private readonly SageOptions _options;

    /// <summary>A quantizer with the given options (validated here).</summary>
    public SageQuantizer(SageOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
    }

    /// <summary>The validated options (for tests of the option parsing).</summary>
    internal SageOptions Options => _options;

    /// <inheritdoc />
    public string Method => "sage";

    /// <inheritdoc />
    public bool NeedsHessian => false;

    /// <inheritdoc />
    public QuantizedLinear Quantize(LinearTarget target)
    {
        Validate(target);
        var o = _options;
        int rows = target.Rows, cols = target.Cols;
        long n = (long)rows * cols;
        var w = target.Weight.ToArray();
        var hessian = target.Hessian?.ToArray();

        ulong rotationSeed = Mix(target.Seed ^ 0x0DA7_A5EEDUL);
        // Rotation helps only where the Hessian sweep and refit can use it (docs/sage-choices.md): auto = calibrated.
        bool rotate = o.Rotate ?? hessian is not null;
        if (rotate) Rotate(w, hessian, rows, cols, rotationSeed);

        // Signs are always stored row-tiled (what the CPU lookup-table kernel reads); the order costs no bytes.
        var flags = SageFlags.TiledSigns
                    | (o.Salient == SalientGranularity.Weight ? SageFlags.SalientPerWeight : 0)
                    | (o.Groups == GroupGranularity.Weight ? SageFlags.GroupPerWeight : 0)
                    | (o.Offset ? SageFlags.RowOffsets : 0)
                    | (rotate ? SageFlags.Rotated : 0);
        double Bits(int count, int k) =>
            8.0 * SageLayout.StoredBytes(rows, cols, flags, (int)o.ScaleMode, k, count, o.SalientBits) / n;

        int units = o.Salient == SalientGranularity.Column ? cols : (int)Math.Min(n, int.MaxValue);
        int maxCount = (int)Math.Floor(o.MaxSalientRatio * units);
        int kAllowed = 0;
        for (int k = 1; k <= o.MaxGroups; k++) if (Bits(0, k) <= o.Bits) kAllowed = k;
        if (kAllowed == 0)
            throw new ArgumentException($"sage: {target.Name}: a budget of {o.Bits} bits per weight is below the {Bits(0, 1):F4} that signs and scales alone take for [{rows}, {cols}]");

        double[] columnWeights = ColumnWeights(hessian, cols, o.HessianSaliency);
        var saliencyHessian = o.HessianSaliency ? hessian : null;
        var ranking = o.Salient == SalientGranularity.Column
            ? SaliencyFilter.RankColumns(w, rows, cols, saliencyHessian)
            : SaliencyFilter.RankWeights(w, rows, cols, saliencyHessian);

        var provisional = SaliencyFilter.Mask(ranking, AdaptiveThreshold.Cap(c => Bits(c, kAllowed), maxCount, o.Bits), rows, cols, o.Salient);
        var grouping = AffinityGrouping.Group(w, rows, cols, provisional, o.Groups, kAllowed, o, Mix(target.Seed ^ 0x6A0UL));
        int cap = AdaptiveThreshold.Cap(c => Bits(c, grouping.K), maxCount, o.Bits);

        // Data-free, the search's objective runs on a row sample; with a Hessian on every row (same bytes as before).
        var search = SearchSample.Create(w, rows, cols, grouping, hessian is null ? o.SearchRows : 0, Mix(target.Seed ^ 0x5EA2C4UL));
        int count = o.SalientRatio is { } fixedRatio
            ? AdaptiveThreshold.Fixed(fixedRatio, units, cap)
            : AdaptiveThreshold.Search(c =>
            {
                var mask = search.Mask(ranking, c, o.Salient);
                var fit = new BinaryFit(search.Weight, search.Rows, cols, mask, search.Grouping, columnWeights, o.ScaleMode, o.Offset);
                fit.Run(o.SearchIterations);
                var scales = SalientScales(search.Weight, search.Rows, cols, mask, columnWeights, o.SalientBits);
                return Error(search.Weight, search.Rows, cols, mask, fit, scales, columnWeights, o.SalientBits);
            }, cap, units, o.MaxSearchEvaluations);

        var finalMask = SaliencyFilter.Mask(ranking, count, rows, cols, o.Salient);
        var finalFit = new BinaryFit(w, rows, cols, finalMask, grouping, columnWeights, o.ScaleMode, o.Offset);
        finalFit.Run(o.Iterations);
        var salientScales = SalientScales(w, rows, cols, finalMask, columnWeights, o.SalientBits);

        var encoding = Encode(w, hessian, rows, cols, flags, count, ranking, finalMask, finalFit, grouping.K, salientScales, rotationSeed);
        var payload = SageLayout.Encode(encoding);
        var dequantized = new float[n];
        SageLayout.Decode(encoding, dequantized);

        long salientWeights = encoding.SalientWeights;
        double ratio = (double)salientWeights / n;
        long scalars = encoding.GroupScales.Length + (encoding.RowScales?.Length ?? 0) + (encoding.RowOffsets?.Length ?? 0)
                       + (salientWeights > 0 ? rows : 0);
        double paperBits = 1 + ratio * (o.SalientBits - 1) + 16.0 * scalars / n;
        var stats = new LinearStats(grouping.K, ratio, salientWeights, o.SalientBits, paperBits);
        return new QuantizedLinear(payload, dequantized, stats);
    }

    private SageEncoding Encode(float[] w, double[]? hessian, int rows, int cols, SageFlags flags, int count, int[] ranking,
        bool[] mask, BinaryFit fit, int k, float[] salientScales, ulong rotationSeed)
    {
        var o = _options;
        int stride = (cols + 7) / 8;
        var signs = new byte[(long)rows * stride];
        var codes = new byte[(long)rows * cols];
        float QuantizeOne(int i, int j, float value)
        {
            long idx = (long)i * cols + j;
            if (mask[idx])
            {
                byte code = SalientQuantizer.Code(value, salientScales[i], o.SalientBits);
                codes[idx] = code;
                return SalientQuantizer.Value(salientScales[i], code, o.SalientBits);
            }
            float q = fit.Reconstruct(i, j, value, out bool positive);
            if (positive) signs[i * stride + (j >> 3)] |= (byte)(1 << (j & 7));
            return q;
        }
        void QuantizeEachOnItsOwn() =>
            Parallel.For(0, rows, i => { for (int j = 0; j < cols; j++) QuantizeOne(i, j, w[(long)i * cols + j]); });
        if (hessian is null)
            QuantizeEachOnItsOwn();
        else
        {
            Action pass = QuantizeEachOnItsOwn;
            if (o.Compensate)
            {
                var factor = InverseHessianFactor.Compute(hessian, cols, o.Damping);
                var work = w.ToArray();
                foreach (int j in factor.DeadColumns) for (int i = 0; i < rows; i++) work[(long)i * cols + j] = 0;
                var upper = factor.Upper;
                pass = () => HessianCompensation.Sweep(work, rows, cols, upper, QuantizeOne);
            }
            pass();
            for (int round = 0; round < o.Refit; round++)
            {
                // Signs and codes fixed: refit the scalars to the output error, then (but after the last
                // round) sweep again so the signs follow the new scalars.
                RefitScalars(w, hessian, rows, cols, k, signs, codes, mask, fit, salientScales);
                if (round + 1 == o.Refit) break;
                Array.Clear(signs); Array.Clear(codes);
                pass();
            }
        }

        bool perWeightSalient = o.Salient == SalientGranularity.Weight;
        ushort[] salientList, rowCounts = [];
        byte[] salientCodes;
        if (count == 0) { salientList = []; salientCodes = []; }
        else if (perWeightSalient)
        {
            var list = new List<ushort>(count);
            var codeList = new List<byte>(count);
            rowCounts = new ushort[rows];
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++)
                    if (mask[(long)i * cols + j]) { list.Add((ushort)j); codeList.Add(codes[(long)i * cols + j]); rowCounts[i]++; }
            salientList = list.ToArray(); salientCodes = codeList.ToArray();
        }
        else
        {
            var columns = ranking[..count].Order().ToArray();
            salientList = columns.Select(c => (ushort)c).ToArray();
            salientCodes = new byte[(long)rows * count];
            for (int i = 0; i < rows; i++)
                for (int r = 0; r < count; r++) salientCodes[(long)i * count + r] = codes[(long)i * cols + columns[r]];
        }
        byte[]? groupIds = k > 1 ? fit.Groups.ToArray() : null;
        if (groupIds is not null && fit.PerWeightGroups)
            for (long t = 0; t < groupIds.Length; t++) if (mask[t]) groupIds[t] = 0;
        var table = fit.Table.Select(v => (Half)v).ToArray();
        var rowScales = o.ScaleMode == GroupScaleMode.RowTimesGroup ? fit.RowFactors.Select(v => (Half)v).ToArray() : null;
        var offsets = o.Offset ? fit.Offsets.Select(v => (Half)v).ToArray() : null;
        var scales = count > 0 ? salientScales.Select(v => (Half)v).ToArray() : null;
        return new SageEncoding(rows, cols, flags, (int)o.ScaleMode, k, o.SalientBits, signs, table, rowScales, offsets, groupIds,
            salientList, rowCounts, salientCodes, scales, (flags & SageFlags.Rotated) != 0 ? rotationSeed : 0);
    }

    private void RefitScalars(float[] w, double[] hessian, int rows, int cols, int k, byte[] signs, byte[] codes, bool[] mask,
        BinaryFit fit, float[] salientScales)
    {
        var o = _options;
        var structure = new OutputRefit.Structure(signs, codes, mask, fit.Group, fit.Offsets, o.SalientBits);
        var a = fit.RowFactors.Select(v => (double)v).ToArray();
        var table = fit.Table.Select(v => (double)v).ToArray();
        var t = salientScales.Select(v => (double)v).ToArray();
        OutputRefit.Refit(w, hessian, rows, cols, k, o.ScaleMode, structure, a, table, t);
        // Stored precision (FP16), so the decoder and the next sweep see exactly these values.
        for (int i = 0; i < rows; i++)
        {
            if (o.ScaleMode == GroupScaleMode.RowTimesGroup) fit.RowFactors[i] = (float)(Half)a[i];
            if (t[i] > 0 && double.IsFinite(t[i])) salientScales[i] = (float)(Half)t[i];
        }
        for (int g = 0; g < table.Length; g++) fit.Table[g] = (float)(Half)table[g];
    }

    private static float[] SalientScales(float[] w, int rows, int cols, bool[] mask, double[] h, int bits)
    {
        var scales = new float[rows];
        Parallel.For(0, rows, i =>
        {
            var values = new List<float>();
            var weights = new List<double>();
            for (int j = 0; j < cols; j++)
                if (mask[(long)i * cols + j]) { values.Add(w[(long)i * cols + j]); weights.Add(h[j]); }
            if (values.Count > 0) scales[i] = SalientQuantizer.FitScale(values.ToArray(), weights.ToArray(), bits);
        });
        return scales;
    }

    private static double Error(float[] w, int rows, int cols, bool[] mask, BinaryFit fit, float[] salientScales, double[] h, int bits)
    {
        var perRow = new double[rows];
        Parallel.For(0, rows, i =>
        {
            double e = 0;
            for (int j = 0; j < cols; j++)
            {
                long idx = (long)i * cols + j;
                float q = mask[idx] ? SalientQuantizer.Value(salientScales[i], SalientQuantizer.Code(w[idx], salientScales[i], bits), bits)
                                    : fit.Reconstruct(i, j, w[idx], out _);
                double d = w[idx] - q;
                e += h[j] * d * d;
            }
            perRow[i] = e;
        });
        return perRow.Sum();
    }

    private static double[] ColumnWeights(double[]? hessian, int cols, bool useHessian)
    {
        var h = new double[cols];
        for (int j = 0; j < cols; j++)
        {
            double d = hessian is not null && useHessian ? hessian[(long)j * cols + j] : 1;
            h[j] = d > 0 ? d : 1e-12;
        }
        return h;
    }

    private static void Rotate(float[] w, double[]? hessian, int rows, int cols, ulong seed)
    {
        var signs = RandomizedHadamard.Signs(cols, seed);
        Parallel.For(0, rows, i => RandomizedHadamard.Forward(w.AsSpan(i * cols, cols), signs));
        if (hessian is null) return;
        // H' = R H Rᵀ: rotate the rows (H Rᵀ), transpose, rotate the rows again; H is symmetric.
        for (int pass = 0; pass < 2; pass++)
        {
            Parallel.For(0, cols, i => RandomizedHadamard.Forward(hessian.AsSpan(i * cols, cols), signs));
            for (int i = 0; i < cols; i++)
                for (int j = i + 1; j < cols; j++)
                    (hessian[(long)i * cols + j], hessian[(long)j * cols + i]) = (hessian[(long)j * cols + i], hessian[(long)i * cols + j]);
        }
    }

    private static ulong Mix(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    private static void Validate(LinearTarget t)
    {
        TargetChecks.Validate(t, "sage", needsHessian: false);
        if (t.Cols > 65536) throw new ArgumentException($"sage: {t.Name}: {t.Cols} input columns exceed the layout's uint16 column indices", nameof(t));
    }
}
