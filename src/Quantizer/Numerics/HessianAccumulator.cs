using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SagePtq.Quantizer.Numerics;

/// <summary>
/// Accumulates the GPTQ Hessian proxy of one linear's inputs: Σ xᵀx over every input row x, in
/// double, then H = (2/n)·Σ xᵀx with n the number of rows (tokens) added.
/// <para>
/// GPTQ's code divides by the number of sequences instead of tokens; the two differ by a constant
/// factor, which no GPTQ-style method sees (damping is relative to mean(diag H), and scores are
/// ranked within a matrix). Counting tokens makes H independent of how the caller batches.
/// </para>
/// <para>
/// Speed: rows are taken <see cref="RowBlock"/> at a time and transposed, so each input feature
/// becomes one contiguous vector; the block's xᵀx is then a float GEMM of dot products (a 4 × 4
/// register-blocked SIMD kernel over 64 × 64 tiles of the upper triangle, tiles spread over the
/// cores), and each tile's float sums are added into the double accumulator. Float is exact enough
/// inside one block of 256 rows; across blocks the sum is double.
/// </para>
/// <para>
/// On AVX2 machines the block goes instead to <see cref="PackedRankUpdate"/>: the 4 × 4 kernel below
/// keeps 24 vectors live and spills on a CPU with 16 vector registers, while that one keeps a 6 × 16
/// tile in 12 and needs no transpose. Same blocks, same float-then-double sums; each entry's float
/// sum is one chain over the block's rows in order instead of lane-wise partial sums. A float sum of
/// 256 products carries a relative error of order 256 · 2⁻²⁴ ≈ 1.5e-5 at worst (about 1e-6 typically),
/// far below the 1 % of mean(diag H) every user adds as damping.
/// </para>
/// </summary>
public sealed class HessianAccumulator
{
    /// <summary>Input rows summed in float before they join the double accumulator.</summary>
    internal const int RowBlock = 256;
    private const int Tile = 64;

    private readonly double[] _sum;
    private readonly float[] _transposed;
    private readonly PackedRankUpdate? _packed;

    /// <summary>An empty accumulator for inputs of <paramref name="cols"/> features.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="cols"/> is not positive.</exception>
    public HessianAccumulator(int cols) : this(cols, portable: false) { }

    /// <param name="cols">The number of input features.</param>
    /// <param name="portable">Use the portable <see cref="Vector{T}"/> kernel even where <see cref="PackedRankUpdate"/> runs (tests compare both).</param>
    internal HessianAccumulator(int cols, bool portable)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cols);
        Cols = cols;
        _sum = new double[(long)cols * cols];
        if (PackedRankUpdate.IsSupported && !portable) { _packed = new PackedRankUpdate(cols, RowBlock); _transposed = []; }
        else _transposed = new float[(long)cols * RowBlock];
    }

    /// <summary>The number of input features (the linear's in-features).</summary>
    public int Cols { get; }

    /// <summary>How many input rows (tokens) have been added.</summary>
    public long SampleCount { get; private set; }

    /// <summary>Adds <paramref name="rowCount"/> input rows (row-major, <see cref="Cols"/> wide) to Σ xᵀx.</summary>
    /// <exception cref="ArgumentException">The span does not hold exactly rowCount × Cols values.</exception>
    public void Add(ReadOnlySpan<float> inputs, int rowCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rowCount);
        if (inputs.Length != (long)rowCount * Cols)
            throw new ArgumentException($"expected {rowCount} rows × {Cols} features = {(long)rowCount * Cols} values, got {inputs.Length}", nameof(inputs));

        for (int start = 0; start < rowCount; start += RowBlock)
        {
            int count = Math.Min(RowBlock, rowCount - start);
            if (_packed is not null)
            {
                _packed.Add(inputs.Slice(start * Cols, count * Cols), count, _sum);
                continue;
            }
            Transpose(inputs.Slice(start * Cols, count * Cols), count);
            AccumulateUpperTriangle();
        }
        SampleCount += rowCount;
    }

    /// <summary>H = (2/n)·Σ xᵀx, cols × cols row-major, symmetric, not damped.</summary>
    /// <exception cref="InvalidOperationException">No rows were added.</exception>
    /// <exception cref="InvalidDataException">The inputs held NaN or infinite values.</exception>
    public double[] Finish()
    {
        if (SampleCount == 0) throw new InvalidOperationException("no input rows were added to the Hessian accumulator");
        int n = Cols;
        double factor = 2.0 / SampleCount;
        var h = new double[(long)n * n];
        for (int i = 0; i < n; i++)
        {
            for (int j = i; j < n; j++)
            {
                double value = _sum[(long)i * n + j] * factor;
                if (!double.IsFinite(value))
                    throw new InvalidDataException($"calibration inputs are not finite (Hessian entry [{i}, {j}] is {value})");
                h[(long)i * n + j] = value;
                h[(long)j * n + i] = value;
            }
        }
        return h;
    }

    /// <summary>Copies count rows into feature-major order, a band of features per task; the rows past count stay zero.</summary>
    private void Transpose(ReadOnlySpan<float> rows, int count)
    {
        if (count < RowBlock) Array.Clear(_transposed);
        int bands = (Cols + Tile - 1) / Tile;
        unsafe
        {
            fixed (float* source = rows)
            {
                var input = (nint)source;
                Parallel.For(0, bands, band =>
                {
                    var all = new ReadOnlySpan<float>((float*)input, count * Cols);
                    int c0 = band * Tile, c1 = Math.Min(Cols, c0 + Tile);
                    for (int r = 0; r < count; r++)
                    {
                        var row = all.Slice(r * Cols + c0, c1 - c0);
                        for (int c = 0; c < row.Length; c++) _transposed[(c0 + c) * RowBlock + r] = row[c];
                    }
                });
            }
        }
    }

    private void AccumulateUpperTriangle()
    {
        int tiles = (Cols + Tile - 1) / Tile;
        var pairs = new (int Row, int Col)[tiles * (tiles + 1) / 2];
        int p = 0;
        for (int ti = 0; ti < tiles; ti++)
            for (int tj = ti; tj < tiles; tj++) pairs[p++] = (ti, tj);
        Parallel.For(0, pairs.Length, k => AccumulateTile(pairs[k].Row * Tile, pairs[k].Col * Tile));
    }

    /// <summary>Adds the dot products of features [i0, i0+64) × [j0, j0+64) (only j ≥ i matters).</summary>
    private void AccumulateTile(int i0, int j0)
    {
        int iEnd = Math.Min(i0 + Tile, Cols), jEnd = Math.Min(j0 + Tile, Cols);
        int i = i0;
        for (; i + 4 <= iEnd; i += 4)
        {
            int jStart = Math.Max(j0, i);
            int j = jStart;
            for (; j + 4 <= jEnd; j += 4) Kernel4x4(i, j);
            for (; j < jEnd; j++)
                for (int a = 0; a < 4; a++) AddDot(i + a, j);
        }
        for (; i < iEnd; i++)
            for (int j = Math.Max(j0, i); j < jEnd; j++) AddDot(i, j);
    }

    private void AddDot(int i, int j) =>
        _sum[(long)i * Cols + j] += System.Numerics.Tensors.TensorPrimitives.Dot(Feature(i), Feature(j));

    private ReadOnlySpan<float> Feature(int index) => _transposed.AsSpan(index * RowBlock, RowBlock);

    private void Kernel4x4(int i, int j)
    {
        ref float t = ref MemoryMarshal.GetArrayDataReference(_transposed);
        ref float a0 = ref Unsafe.Add(ref t, i * RowBlock);
        ref float a1 = ref Unsafe.Add(ref a0, RowBlock);
        ref float a2 = ref Unsafe.Add(ref a1, RowBlock);
        ref float a3 = ref Unsafe.Add(ref a2, RowBlock);
        ref float b0 = ref Unsafe.Add(ref t, j * RowBlock);
        ref float b1 = ref Unsafe.Add(ref b0, RowBlock);
        ref float b2 = ref Unsafe.Add(ref b1, RowBlock);
        ref float b3 = ref Unsafe.Add(ref b2, RowBlock);
        Vector<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector<float> c30 = default, c31 = default, c32 = default, c33 = default;
        // RowBlock is a multiple of every vector width, so there is no tail.
        for (int k = 0; k < RowBlock; k += Vector<float>.Count)
        {
            var x0 = Load(ref a0, k); var x1 = Load(ref a1, k); var x2 = Load(ref a2, k); var x3 = Load(ref a3, k);
            var y0 = Load(ref b0, k); var y1 = Load(ref b1, k); var y2 = Load(ref b2, k); var y3 = Load(ref b3, k);
            c00 = Vector.FusedMultiplyAdd(x0, y0, c00); c01 = Vector.FusedMultiplyAdd(x0, y1, c01);
            c02 = Vector.FusedMultiplyAdd(x0, y2, c02); c03 = Vector.FusedMultiplyAdd(x0, y3, c03);
            c10 = Vector.FusedMultiplyAdd(x1, y0, c10); c11 = Vector.FusedMultiplyAdd(x1, y1, c11);
            c12 = Vector.FusedMultiplyAdd(x1, y2, c12); c13 = Vector.FusedMultiplyAdd(x1, y3, c13);
            c20 = Vector.FusedMultiplyAdd(x2, y0, c20); c21 = Vector.FusedMultiplyAdd(x2, y1, c21);
            c22 = Vector.FusedMultiplyAdd(x2, y2, c22); c23 = Vector.FusedMultiplyAdd(x2, y3, c23);
            c30 = Vector.FusedMultiplyAdd(x3, y0, c30); c31 = Vector.FusedMultiplyAdd(x3, y1, c31);
            c32 = Vector.FusedMultiplyAdd(x3, y2, c32); c33 = Vector.FusedMultiplyAdd(x3, y3, c33);
        }
        long n = Cols, r0 = i * n + j;
        _sum[r0] += Vector.Sum(c00); _sum[r0 + 1] += Vector.Sum(c01); _sum[r0 + 2] += Vector.Sum(c02); _sum[r0 + 3] += Vector.Sum(c03);
        r0 += n;
        _sum[r0] += Vector.Sum(c10); _sum[r0 + 1] += Vector.Sum(c11); _sum[r0 + 2] += Vector.Sum(c12); _sum[r0 + 3] += Vector.Sum(c13);
        r0 += n;
        _sum[r0] += Vector.Sum(c20); _sum[r0 + 1] += Vector.Sum(c21); _sum[r0 + 2] += Vector.Sum(c22); _sum[r0 + 3] += Vector.Sum(c23);
        r0 += n;
        _sum[r0] += Vector.Sum(c30); _sum[r0 + 1] += Vector.Sum(c31); _sum[r0 + 2] += Vector.Sum(c32); _sum[r0 + 3] += Vector.Sum(c33);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<float> Load(ref float source, int offset) => Vector.LoadUnsafe(ref source, (nuint)offset);
}
