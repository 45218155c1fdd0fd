using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Packing.Layouts;

namespace SagePtq.Runtime.Cpu;

/// <summary>
/// The integer kernel of the <c>uniform</c> layout (rtn, gptq, septq, quantized embeddings) for 8-, 4- and
/// 2-bit codes, groups a multiple of 32 columns (or one group per row), no act-order group index.
/// Codes are read straight from the memory-mapped bit stream; the FP16 scales, zero points and reserved
/// weights (a few per row) are converted once into small managed arrays.
/// <para>
/// Each input is quantized to int8 per 32-value block (<see cref="ActivationQuantizer"/>: scale d_b,
/// codes q, sum Σq_b). With s and z the scale and zero point of (row r, group g):
/// y_r = Σ_g s_rg · (Σ_{b∈g} d_b·Σ_{c∈b} code_rc·q_c − z_rg · Σ_{b∈g} d_b·Σq_b) + Σ_{reserved (r,c)} v_rc·x_c.
/// The inner sums are exact integers; Σ_{b∈g} d_b·Σq_b depends only on the input and is computed once per
/// group in <see cref="Prepare"/>. A reserved weight's code is its zero point, so its grid term is 0 and its
/// FP16 value is added against the unquantized input.
/// </para>
/// The pack must outlive this instance.
/// </summary>
public sealed unsafe class UniformCpuLinear : CpuLinear
{
    private const int Block = UniformBlockKernels.BlockSize;

    private readonly byte* _codes;
    private readonly int _bits, _groupSize, _groups, _blocks, _blocksPerGroup, _rowBytes;
    private readonly float[] _scales;          // rows × groups
    private readonly float[] _zeros;           // rows × groups
    private readonly int[] _reservedStart;     // rows + 1, into the two arrays below
    private readonly int[] _reservedColumn;
    private readonly float[] _reservedValue;
    private readonly long _weightBytes;
    private readonly sbyte[] _naturalQ;        // Prepare scratch: one input's codes in column order
    private readonly int[] _blockSums;         // Prepare scratch: Σq per block of one input
    private sbyte* _q;                         // maxTokens × cols, plane order within each block
    private float* _blockScales;               // maxTokens × blocks
    private float* _groupSums;                 // maxTokens × groups: Σ_{b∈g} d_b·Σq_b
    private float* _input;                     // maxTokens × cols, FP32 copy for the reserved term (null without reserved weights)

    private UniformCpuLinear(string name, int rows, int cols, int maxTokens, int bits, int groupSize, byte* codes,
        float[] scales, float[] zeros, int[] reservedStart, int[] reservedColumn, float[] reservedValue, long weightBytes)
        : base(name, rows, cols, maxTokens)
    {
        _codes = codes;
        _bits = bits;
        _groupSize = groupSize;
        _groups = (cols + groupSize - 1) / groupSize;
        _blocks = cols / Block;
        _blocksPerGroup = groupSize / Block;
        _rowBytes = cols / 8 * bits;
        _scales = scales;
        _zeros = zeros;
        _reservedStart = reservedStart;
        _reservedColumn = reservedColumn;
        _reservedValue = reservedValue;
        _weightBytes = weightBytes;
        _naturalQ = new sbyte[cols];
        _blockSums = new int[_blocks];
        _q = FloatRowKernel.Allocate<sbyte>((long)maxTokens * cols);
        _blockScales = FloatRowKernel.Allocate<float>((long)maxTokens * _blocks);
        _groupSums = FloatRowKernel.Allocate<float>((long)maxTokens * _groups);
        _input = reservedColumn.Length > 0 ? FloatRowKernel.Allocate<float>((long)maxTokens * cols) : null;
    }

    /// <summary>Code width: 8, 4 or 2.</summary>
    public int Bits => _bits;

    /// <summary>Columns per (row, group) scale and zero point.</summary>
    public int GroupSize => _groupSize;

    /// <summary>Reserved (FP16) weights of the whole matrix.</summary>
    public int ReservedCount => _reservedColumn.Length;

    /// <inheritdoc />
    public override long WeightBytes => _weightBytes;

    /// <summary>Whether this kernel reads <paramref name="record"/>; if not, <paramref name="reason"/> says why.</summary>
    public static bool Supports(LinearRecord record, out string reason)
    {
        ArgumentNullException.ThrowIfNull(record);
        reason = "";
        if (record.Layout != UniformLayout.LayoutName) reason = $"layout '{record.Layout}' is not '{UniformLayout.LayoutName}'";
        else if (!record.Parameters.TryGetValue("bits", out int bits) || bits is not (8 or 4 or 2)) reason = $"bits {(record.Parameters.TryGetValue("bits", out int b) ? b : 0)} (the kernel reads 8, 4 and 2)";
        else if (record.Cols % Block != 0) reason = $"{record.Cols} columns, not a multiple of {Block}";
        else if (!record.Parameters.TryGetValue("group_size", out int group) || group <= 0 || group % Block != 0) reason = $"group size {group}, not a multiple of {Block}";
        else if (record.Sections.Any(s => s.Name == "group_index")) reason = "an act-order group index";
        return reason.Length == 0;
    }

    /// <summary>Opens the <c>uniform</c> linear <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">The pack has no linear of that name.</exception>
    /// <exception cref="NotSupportedException">The linear is a variant this kernel does not read (<see cref="Supports"/>).</exception>
    /// <exception cref="InvalidDataException">A section has the wrong size or the reserved indices are malformed.</exception>
    public static UniformCpuLinear Create(PackedModel pack, string name, int maxTokens)
    {
        ArgumentNullException.ThrowIfNull(pack);
        var record = pack.Manifest.FindLinear(name) ?? throw new KeyNotFoundException($"linear '{name}' is not in {pack.PackPath}");
        if (!Supports(record, out string reason))
            throw new NotSupportedException($"linear '{name}': the uniform CPU kernel does not read {reason}");
        int rows = record.Rows, cols = record.Cols, bits = record.Parameters["bits"], groupSize = record.Parameters["group_size"];
        if (groupSize > cols) throw new InvalidDataException($"linear '{name}' has group_size {groupSize} > {cols} columns");
        int groups = (cols + groupSize - 1) / groupSize;
        long slots = (long)rows * groups;

        ReadOnlySpan<byte> Section(string section, long expected)
        {
            var bytes = pack.GetTensorBytes(PackFormat.SectionTensorName(name, section));
            if (expected >= 0 && bytes.Length != expected)
                throw new InvalidDataException($"linear '{name}' section '{section}' has {bytes.Length} bytes, expected {expected}");
            return bytes;
        }

        var codes = Section("codes", (long)rows * cols * bits / 8);
        var scaleBytes = Section("scales", 2 * slots);
        var zeroBytes = Section("zeros", (slots * bits + 7) / 8);
        var scales = new float[slots];
        for (long k = 0; k < slots; k++) scales[k] = (float)BinaryPrimitives.ReadHalfLittleEndian(scaleBytes[(int)(2 * k)..]);
        var zeros = new float[slots];
        var zeroCodes = BitPacking.UnpackBits(zeroBytes, slots, bits);
        for (long k = 0; k < slots; k++) zeros[k] = zeroCodes[k];

        var reservedStart = new int[rows + 1];
        int[] reservedColumn = [];
        float[] reservedValue = [];
        long weightBytes = codes.Length + scaleBytes.Length + zeroBytes.Length;
        bool hasIndex = record.Sections.Any(s => s.Name == "reserved_index"), hasValue = record.Sections.Any(s => s.Name == "reserved_value");
        if (hasIndex != hasValue) throw new InvalidDataException($"linear '{name}' has only one of 'reserved_index' and 'reserved_value'");
        if (hasIndex)
        {
            var indexBytes = Section("reserved_index", -1);
            if (indexBytes.Length % 4 != 0) throw new InvalidDataException($"linear '{name}' section 'reserved_index' has {indexBytes.Length} bytes, not a multiple of 4");
            int count = indexBytes.Length / 4;
            var valueBytes = Section("reserved_value", 2L * count);
            reservedColumn = new int[count];
            reservedValue = new float[count];
            long previous = -1, total = (long)rows * cols;
            for (int k = 0; k < count; k++)
            {
                long flat = BinaryPrimitives.ReadUInt32LittleEndian(indexBytes[(4 * k)..]);
                if (flat <= previous || flat >= total)
                    throw new InvalidDataException($"linear '{name}' reserved index {flat} is out of order or outside the {total} weights");
                previous = flat;
                reservedColumn[k] = (int)(flat % cols);
                reservedValue[k] = (float)BinaryPrimitives.ReadHalfLittleEndian(valueBytes[(2 * k)..]);
                reservedStart[flat / cols + 1]++;
            }
            for (int r = 0; r < rows; r++) reservedStart[r + 1] += reservedStart[r];
            weightBytes += indexBytes.Length + valueBytes.Length;
        }
        return new UniformCpuLinear(name, rows, cols, maxTokens, bits, groupSize, CpuLinearGuards.Pointer(codes),
            scales, zeros, reservedStart, reservedColumn, reservedValue, weightBytes);
    }

    /// <inheritdoc />
    public override void Prepare(ReadOnlySpan<float> input, int tokens)
    {
        ObjectDisposedException.ThrowIf(_q == null, this);
        CpuLinearGuards.CheckPrepare(this, input, tokens);
        int cols = Cols;
        for (int t = 0; t < tokens; t++)
        {
            var x = input.Slice(t * cols, cols);
            var scales = new Span<float>(_blockScales + (long)t * _blocks, _blocks);
            ActivationQuantizer.Quantize(x, Block, _naturalQ, scales, _blockSums);
            var q = new Span<sbyte>(_q + (long)t * cols, cols);
            for (int b = 0; b < _blocks; b++)
                UniformBlockKernels.PermuteBlock(_naturalQ.AsSpan(b * Block, Block), q.Slice(b * Block, Block), _bits);
            float* groupSums = _groupSums + (long)t * _groups;
            for (int g = 0; g < _groups; g++)
            {
                float sum = 0;
                for (int b = g * _blocksPerGroup, end = Math.Min(b + _blocksPerGroup, _blocks); b < end; b++) sum += scales[b] * _blockSums[b];
                groupSums[g] = sum;
            }
            if (_input != null) x.CopyTo(new Span<float>(_input + (long)t * cols, cols));
        }
        PreparedTokens = tokens;
    }

    /// <inheritdoc />
    public override void Multiply(Span<float> output, int rowStart, int rowEnd)
    {
        ObjectDisposedException.ThrowIf(_q == null, this);
        CpuLinearGuards.CheckMultiply(this, output, rowStart, rowEnd);
        bool avx2 = Avx2.IsSupported && Fma.IsSupported;
        // Constant bit widths, so each call site folds its block kernel's branches.
        switch (_bits)
        {
            case 8: if (avx2) MultiplyRows(output, rowStart, rowEnd, 8, true); else MultiplyRows(output, rowStart, rowEnd, 8, false); break;
            case 4: if (avx2) MultiplyRows(output, rowStart, rowEnd, 4, true); else MultiplyRows(output, rowStart, rowEnd, 4, false); break;
            default: if (avx2) MultiplyRows(output, rowStart, rowEnd, 2, true); else MultiplyRows(output, rowStart, rowEnd, 2, false); break;
        }
    }

    /// <summary>The same product through the portable (or, with <paramref name="avx2"/>, the AVX2) block kernel: for tests on AVX2 machines.</summary>
    /// <remarks>With <paramref name="pairedNibbles"/> false the AVX2 path takes 4-bit codes one block at a time (the oracle of the pairs).</remarks>
    internal void MultiplyWith(bool avx2, Span<float> output, int rowStart, int rowEnd, bool pairedNibbles = true)
    {
        CpuLinearGuards.CheckMultiply(this, output, rowStart, rowEnd);
        if (avx2 && !(Avx2.IsSupported && Fma.IsSupported)) throw new PlatformNotSupportedException("AVX2 and FMA");
        MultiplyRows(output, rowStart, rowEnd, _bits, avx2, pairedNibbles);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void MultiplyRows(Span<float> output, int rowStart, int rowEnd, int bits, bool avx2, bool pairedNibbles = true)
    {
        int tokens = PreparedTokens, rows = Rows, cols = Cols;
        int r = rowStart;
        if (avx2)
        {
            // Four rows at a time share each activation load and block-scale broadcast.
            for (; r + 4 <= rowEnd; r += 4)
            {
                byte* codes = _codes + (long)r * _rowBytes;
                // Hardware prefetchers stop at 4 KB pages; the first token's pass fetches the next four rows.
                byte* next = r + 8 <= rowEnd ? codes + 4 * (nint)_rowBytes : null;
                for (int t = 0; t < tokens; t++)
                {
                    Rows4Avx2(r, codes, _q + (long)t * cols, _blockScales + (long)t * _blocks, _groupSums + (long)t * _groups, bits,
                        pairedNibbles && bits == 4, t == 0 ? next : null, out float y0, out float y1, out float y2, out float y3);
                    for (int i = 0; i < 4; i++)
                    {
                        float y = i switch { 0 => y0, 1 => y1, 2 => y2, _ => y3 };
                        for (int k = _reservedStart[r + i]; k < _reservedStart[r + i + 1]; k++) y += _reservedValue[k] * _input[(long)t * cols + _reservedColumn[k]];
                        output[t * rows + r + i] = y;
                    }
                }
            }
        }
        for (; r < rowEnd; r++)
        {
            byte* codes = _codes + (long)r * _rowBytes;
            // Rows outer, tokens inner: a row's codes stay in L1 across a prefill batch.
            for (int t = 0; t < tokens; t++)
            {
                sbyte* q = _q + (long)t * cols;
                float* d = _blockScales + (long)t * _blocks;
                float* groupSums = _groupSums + (long)t * _groups;
                float y = avx2 ? RowAvx2(r, codes, q, d, groupSums, bits) : RowPortable(r, codes, q, d, groupSums, bits);
                for (int k = _reservedStart[r]; k < _reservedStart[r + 1]; k++) y += _reservedValue[k] * _input[(long)t * cols + _reservedColumn[k]];
                output[t * rows + r] = y;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private float RowAvx2(int row, byte* codes, sbyte* q, float* d, float* groupSums, int bits)
    {
        int blockBytes = UniformBlockKernels.BlockBytes(bits), slot = row * _groups;
        var total = Vector256<float>.Zero;
        float zeroTerm = 0;
        for (int g = 0, b = 0; g < _groups; g++, slot++)
        {
            var group = Vector256<float>.Zero;
            for (int end = Math.Min(b + _blocksPerGroup, _blocks); b < end; b++)
            {
                var products = Avx.ConvertToVector256Single(UniformBlockKernels.ProductsAvx2(codes + b * blockBytes, q + b * Block, bits));
                group = Fma.IsSupported ? Fma.MultiplyAdd(products, Vector256.Create(d[b]), group) : group + products * d[b];
            }
            float scale = _scales[slot];
            total = Fma.IsSupported ? Fma.MultiplyAdd(group, Vector256.Create(scale), total) : total + group * scale;
            zeroTerm += scale * _zeros[slot] * groupSums[g];
        }
        return Vector256.Sum(total) - zeroTerm;
    }

    /// <summary><see cref="RowAvx2"/> for rows <paramref name="row"/>..+3 at once (same groups, consecutive code rows).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Rows4Avx2(int row, byte* codes, sbyte* q, float* d, float* groupSums, int bits, bool pairs, byte* prefetch,
        out float y0, out float y1, out float y2, out float y3)
    {
        int blockBytes = UniformBlockKernels.BlockBytes(bits), rowBytes = _rowBytes, groups = _groups;
        var t0 = Vector256<float>.Zero; var t1 = t0; var t2 = t0; var t3 = t0;
        float z0 = 0, z1 = 0, z2 = 0, z3 = 0;
        for (int g = 0, b = 0, slot = row * groups; g < groups; g++, slot++)
        {
            var g0 = Vector256<float>.Zero; var g1 = g0; var g2 = g0; var g3 = g0;
            int end = Math.Min(b + _blocksPerGroup, _blocks);
            if (pairs)
                for (; b + 2 <= end; b += 2)
                {
                    // Two 4-bit blocks from one 32-byte load. Each row's low nibbles are [A plane 0 | B plane 0] and its
                    // high nibbles [A plane 1 | B plane 1]; the activations are put in that order once for all four
                    // rows, so a row's two blocks share one widening, one conversion and one multiply-add (lanes 0-3
                    // block A, lanes 4-7 block B, scaled by [d_A × 4, d_B × 4]).
                    byte* c = codes + b * blockBytes;
                    sbyte* qb = q + b * Block;
                    var qFirst = Avx.LoadVector256(qb);
                    var qSecond = Avx.LoadVector256(qb + Block);
                    var qLow = Avx2.Permute2x128(qFirst, qSecond, 0x20);
                    var qHigh = Avx2.Permute2x128(qFirst, qSecond, 0x31);
                    var dPair = Vector256.Create(Vector128.Create(d[b]), Vector128.Create(d[b + 1]));
                    if (prefetch != null)
                    {
                        // The next four rows, 128 bytes per pair: the whole group by the time this one ends.
                        Sse.Prefetch0(prefetch);
                        Sse.Prefetch0(prefetch + 64);
                        prefetch += 128;
                    }
                    g0 = PairAvx2(c, qLow, qHigh, dPair, g0);
                    g1 = PairAvx2(c + rowBytes, qLow, qHigh, dPair, g1);
                    g2 = PairAvx2(c + 2 * rowBytes, qLow, qHigh, dPair, g2);
                    g3 = PairAvx2(c + 3 * rowBytes, qLow, qHigh, dPair, g3);
                }
            for (; b < end; b++)
            {
                byte* c = codes + b * blockBytes;
                sbyte* qb = q + b * Block;
                var db = Vector256.Create(d[b]);
                g0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(UniformBlockKernels.ProductsAvx2(c, qb, bits)), db, g0);
                g1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(UniformBlockKernels.ProductsAvx2(c + rowBytes, qb, bits)), db, g1);
                g2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(UniformBlockKernels.ProductsAvx2(c + 2 * rowBytes, qb, bits)), db, g2);
                g3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(UniformBlockKernels.ProductsAvx2(c + 3 * rowBytes, qb, bits)), db, g3);
            }
            float s0 = _scales[slot], s1 = _scales[slot + groups], s2 = _scales[slot + 2 * groups], s3 = _scales[slot + 3 * groups];
            t0 = Fma.MultiplyAdd(g0, Vector256.Create(s0), t0);
            t1 = Fma.MultiplyAdd(g1, Vector256.Create(s1), t1);
            t2 = Fma.MultiplyAdd(g2, Vector256.Create(s2), t2);
            t3 = Fma.MultiplyAdd(g3, Vector256.Create(s3), t3);
            float sum = groupSums[g];
            z0 += s0 * _zeros[slot] * sum;
            z1 += s1 * _zeros[slot + groups] * sum;
            z2 += s2 * _zeros[slot + 2 * groups] * sum;
            z3 += s3 * _zeros[slot + 3 * groups] * sum;
        }
        y0 = Vector256.Sum(t0) - z0;
        y1 = Vector256.Sum(t1) - z1;
        y2 = Vector256.Sum(t2) - z2;
        y3 = Vector256.Sum(t3) - z3;
    }

    /// <summary>Two consecutive 4-bit blocks of one row (32 code bytes) into the row's group accumulator.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> PairAvx2(byte* codes, Vector256<sbyte> qLow, Vector256<sbyte> qHigh, Vector256<float> dPair, Vector256<float> group)
    {
        var v = Avx.LoadVector256(codes);
        var low = Vector256.Create((byte)0x0F);
        var lowPlanes = Avx2.And(v, low);
        var highPlanes = Avx2.And(Avx2.ShiftRightLogical(v.AsUInt16(), 4).AsByte(), low);
        // Each int16 lane: two products of at most 15·127 from each plane, 4·1905 < 32767.
        var pairs = Avx2.Add(Avx2.MultiplyAddAdjacent(lowPlanes, qLow), Avx2.MultiplyAddAdjacent(highPlanes, qHigh));
        var sums = Avx2.MultiplyAddAdjacent(pairs, Vector256.Create((short)1));
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(sums), dPair, group);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private float RowPortable(int row, byte* codes, sbyte* q, float* d, float* groupSums, int bits)
    {
        int blockBytes = UniformBlockKernels.BlockBytes(bits), slot = row * _groups;
        float total = 0;
        for (int g = 0, b = 0; g < _groups; g++, slot++)
        {
            float group = 0;
            for (int end = Math.Min(b + _blocksPerGroup, _blocks); b < end; b++)
                group += d[b] * UniformBlockKernels.DotPortable(codes + b * blockBytes, q + b * Block, bits);
            total += _scales[slot] * (group - _zeros[slot] * groupSums[g]);
        }
        return total;
    }

    /// <inheritdoc />
    public override void DecodeRow(int row, Span<float> destination)
    {
        CpuLinearGuards.CheckDecodeRow(this, row, destination);
        int mask = (1 << _bits) - 1, cols = Cols;
        byte* codes = _codes + (long)row * _rowBytes;
        for (int c = 0; c < cols; c++)
        {
            int bit = c * _bits;
            int code = (codes[bit >> 3] >> (bit & 7)) & mask;
            int slot = row * _groups + c / _groupSize;
            destination[c] = UniformLayout.Dequantize(_scales[slot], code, (int)_zeros[slot]);
        }
        for (int k = _reservedStart[row]; k < _reservedStart[row + 1]; k++) destination[_reservedColumn[k]] = _reservedValue[k];
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        FloatRowKernel.Free(_q); _q = null;
        FloatRowKernel.Free(_blockScales); _blockScales = null;
        FloatRowKernel.Free(_groupSums); _groupSums = null;
        FloatRowKernel.Free(_input); _input = null;
    }

    ~UniformCpuLinear() => Dispose(false);
}
