using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Packing.Layouts;
using Xunit;

namespace SagePtq.Quantizer.Tests.Sage;

public sealed class SageLayoutTests
{
    private static SageEncoding RandomEncoding(int rows, int cols, SageFlags flags, int mode, int k, int bits, int salient, int seed)
    {
        var rng = new Random(seed);
        Half H() => (Half)(rng.NextDouble() * 0.1);
        bool perWeight = (flags & SageFlags.SalientPerWeight) != 0;
        var signs = new byte[rows * ((cols + 7) / 8)];
        rng.NextBytes(signs);
        // Padding bits past the last column stay zero, as the encoder writes them.
        if (cols % 8 != 0) for (int i = 0; i < rows; i++) signs[i * ((cols + 7) / 8) + (cols + 7) / 8 - 1] &= (byte)((1 << (cols % 8)) - 1);
        ushort[] list, counts = [];
        if (perWeight)
        {
            counts = new ushort[rows];
            var l = new List<ushort>();
            for (int i = 0; i < rows; i++)
                foreach (int j in Enumerable.Range(0, cols).Where(_ => rng.NextDouble() < (double)salient / (rows * cols)))
                { l.Add((ushort)j); counts[i]++; }
            list = l.ToArray();
        }
        else list = Enumerable.Range(0, cols).OrderBy(_ => rng.Next()).Take(salient).Order().Select(j => (ushort)j).ToArray();
        long entries = perWeight ? list.Length : (long)rows * list.Length;
        var codes = Enumerable.Range(0, (int)entries).Select(_ => (byte)rng.Next(1 << bits)).ToArray();
        byte[]? ids = k > 1 ? Enumerable.Range(0, (flags & SageFlags.GroupPerWeight) != 0 ? rows * cols : cols).Select(_ => (byte)rng.Next(k)).ToArray() : null;
        return new SageEncoding(rows, cols, flags, mode, k, bits, signs,
            Enumerable.Range(0, k * (mode == 2 ? rows : 1)).Select(_ => H()).ToArray(),
            mode == 1 ? Enumerable.Range(0, rows).Select(_ => H()).ToArray() : null,
            (flags & SageFlags.RowOffsets) != 0 ? Enumerable.Range(0, rows).Select(_ => H()).ToArray() : null,
            ids, list, counts, codes, list.Length > 0 ? Enumerable.Range(0, rows).Select(_ => H()).ToArray() : null,
            (flags & SageFlags.Rotated) != 0 ? 0xDEADBEEF12345UL : 0);
    }

    /// <summary>Oracle: the decoding rule of the layout's header, written out naively.</summary>
    private static float[] NaiveDecode(SageEncoding e)
    {
        var w = new float[e.Rows * e.Cols];
        int stride = (e.Cols + 7) / 8;
        long cursor = 0;
        for (int i = 0; i < e.Rows; i++)
        {
            for (int j = 0; j < e.Cols; j++)
            {
                int g = e.GroupCount == 1 ? 0 : e.GroupIds![(e.Flags & SageFlags.GroupPerWeight) != 0 ? i * e.Cols + j : j];
                float alpha = e.ScaleMode switch { 1 => (float)e.RowScales![i] * (float)e.GroupScales[g], 2 => (float)e.GroupScales[i * e.GroupCount + g], _ => (float)e.GroupScales[g] };
                float mu = e.RowOffsets is null ? 0 : (float)e.RowOffsets[i];
                w[i * e.Cols + j] = mu + (((e.Signs[i * stride + j / 8] >> (j % 8)) & 1) == 1 ? alpha : -alpha);
            }
            if ((e.Flags & SageFlags.SalientPerWeight) != 0)
                for (int r = 0; r < (e.SalientRowCounts.Length > 0 ? e.SalientRowCounts[i] : 0); r++, cursor++)
                    w[i * e.Cols + e.SalientColumns[cursor]] = (float)e.SalientScales![i] * (e.SalientCodes[cursor] - (1 << (e.SalientBits - 1)));
            else
                for (int r = 0; r < e.SalientColumns.Length; r++)
                    w[i * e.Cols + e.SalientColumns[r]] = (float)e.SalientScales![i] * (e.SalientCodes[i * e.SalientColumns.Length + r] - (1 << (e.SalientBits - 1)));
            if ((e.Flags & SageFlags.Rotated) != 0)
            {
                // Naive w = w'·R with R = H_b·D: H_b by its ±1 definition (sign of popcount(a & b)).
                int b = RandomizedHadamard.BlockSize(e.Cols);
                var signs = RandomizedHadamard.Signs(e.Cols, e.RotationSeed);
                var row = w.AsSpan(i * e.Cols, e.Cols).ToArray();
                for (int j = 0; j < e.Cols; j++)
                {
                    int start = j / b * b;
                    double s = 0;
                    for (int t = 0; t < b; t++) s += (System.Numerics.BitOperations.PopCount((uint)((j - start) & t)) % 2 == 0 ? 1 : -1) * row[start + t];
                    w[i * e.Cols + j] = (float)(s / Math.Sqrt(b) * signs[j]);
                }
            }
        }
        return w;
    }

    [Theory]
    [InlineData(7, 13, 0, 0, 1, 4, 0)]                 // zero salient columns, one group, odd sizes
    [InlineData(5, 21, 0, 1, 3, 3, 4)]                 // column groups, row × group scales
    [InlineData(9, 11, 3, 2, 5, 2, 12)]                // per-weight salient and groups, per-row-group table
    [InlineData(6, 17, 4, 1, 2, 8, 3)]                 // offsets
    [InlineData(3, 1, 0, 0, 1, 4, 1)]                  // a single column
    public void EncodeRead_RoundTripsEveryField(int rows, int cols, int flags, int mode, int k, int bits, int salient)
    {
        var e = RandomEncoding(rows, cols, (SageFlags)flags, mode, k, bits, salient, rows * 31 + cols);
        var payload = SageLayout.Encode(e);
        Assert.Equal(SageLayout.StoredBytes(rows, cols, e.Flags, mode, k, e.SalientColumns.Length, bits), payload.StoredBytes);
        var back = SageLayout.Read(payload);
        Assert.Equal(e.Signs, back.Signs);
        Assert.Equal(e.GroupScales, back.GroupScales);
        Assert.Equal(e.SalientColumns, back.SalientColumns);
        Assert.Equal(e.SalientCodes, back.SalientCodes);
        Assert.Equal(e.GroupIds, back.GroupIds);
        var fast = new float[rows * cols];
        new SageLayout().Decode(payload, fast);
        Assert.Equal(NaiveDecode(e), fast);
    }

    [Theory]
    [InlineData(4, 24)]
    [InlineData(3, 96)]
    public void Rotation_DecodesLikeNaiveHadamard(int rows, int cols)
    {
        var e = RandomEncoding(rows, cols, SageFlags.Rotated, 1, 2, 4, 2, 3);
        var fast = new float[rows * cols];
        SageLayout.Decode(e, fast);
        var naive = NaiveDecode(e);
        for (int t = 0; t < fast.Length; t++) Assert.Equal(naive[t], fast[t], 5);
        // Forward then inverse is the identity (R is orthogonal).
        var row = Enumerable.Range(0, cols).Select(j => (float)Math.Sin(j)).ToArray();
        var copy = row.ToArray();
        RandomizedHadamard.Forward(copy, 77UL);
        RandomizedHadamard.Inverse(copy, 77UL);
        for (int j = 0; j < cols; j++) Assert.Equal(row[j], copy[j], 5);
    }

    [Fact]
    public void MalformedPayload_IsInvalidData()
    {
        var payload = SageLayout.Encode(RandomEncoding(5, 21, 0, 1, 3, 3, 4, 1));
        var shortSigns = payload with { Sections = payload.Sections.Select(s => s.Name == "signs" ? s with { Bytes = s.Bytes[1..] } : s).ToList() };
        Assert.Throws<InvalidDataException>(() => new SageLayout().Decode(shortSigns, new float[5 * 21]));
        var badK = payload with { Parameters = new Dictionary<string, int>(payload.Parameters) { ["groups"] = 0 } };
        Assert.Throws<InvalidDataException>(() => new SageLayout().Decode(badK, new float[5 * 21]));
        var missing = payload with { Sections = payload.Sections.Where(s => s.Name != "salient_scales").ToList() };
        Assert.Throws<InvalidDataException>(() => new SageLayout().Decode(missing, new float[5 * 21]));
    }
}
