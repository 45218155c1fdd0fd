using System.Buffers;
using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Runtime.InteropServices;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Packing.Layouts;

namespace SagePtq.Runtime.Cpu;

/// <summary>
/// A sage-layout linear (<see cref="SageLayout"/>) multiplied straight from the memory-mapped pack: the
/// sign planes and salient codes are read in place, only per-row and per-column scalars are converted at
/// construction. Handles the layout's default structure: one group per column, whole salient columns,
/// scale mode 0 or 1, optional row offsets and rotation.
/// <para>
/// The math (research/runtime.md §7.2–7.3). A stored unsalient weight is w'_ij = a_i·c_g(j)·(±1) + μ_i
/// (mode 1: a_i = row scale, c_g = table[g]; mode 0: a_i = 1, c_g = table[g]); a salient one is
/// t_i·(code − 2^(b−1)). With rotation the real row is w = w'·R, so w·x = w'·x' with x' = R·x
/// (<see cref="RandomizedHadamard.Forward(Span{float}, ReadOnlySpan{float})"/>). <see cref="Prepare"/> forms
/// v_j = c_g(j)·x'_j (0 at salient columns), quantizes it to int8 per 256-block (scales d_b, code sums S_b,
/// <see cref="ActivationQuantizer"/>), gathers x' at the salient columns and, with offsets, sums x' over the
/// unsalient ones. Then row i is
/// y_i = a_i·(2·Σ_b d_b·Σ_{j∈b}[bit_ij]·q_j − Σ_b d_b·S_b) + t_i·Σ_r (code_ir − 2^(b−1))·x'_{S_r} + μ_i·Σ_unsalient x'.
/// </para>
/// <para>
/// The pack must stay open while this instance is used: it keeps pointers into the mapping.
/// </para>
/// </summary>
[SkipLocalsInit]
public sealed unsafe class SageCpuLinear : CpuLinear
{
    private const int Block = SignDot.BlockWeights;

    /// <summary>Salient rows up to this many codes are expanded on the stack in <see cref="Multiply"/>.</summary>
    private const int StackCodes = 4096;

    private readonly PackedModel _pack;
    private readonly SignDotPath _path;
    private readonly long _weightBytes;

    // Sign planes. _storedSigns is the section in the mapping, in its stored order: row-tiled when _tiledSigns
    // (SignPlanes.Tile), else plane-order rows. _signs is what Multiply reads, plane-order rows: the mapping
    // itself when untiled; for a tiled section, for now, a native copy untiled at construction (_untiledCopy,
    // freed in Dispose), until Multiply reads the tiles in place.
    private readonly byte* _storedSigns;
    private readonly bool _tiledSigns;
    private byte* _untiledCopy;
    private readonly byte* _signs;
    private readonly int _stride;
    private readonly int _fullBlocks;
    private readonly int _blocks;
    private readonly int _tailWeights;
    private readonly int _tailBytes;

    // Scalars converted at construction (pinned arrays, read through pointers in the hot loop).
    private readonly float[] _rowScale;
    private readonly float[]? _rowOffset;
    private readonly float[] _columnScale;
    private readonly float[]? _rotationSigns;

    // Salient columns; their codes stay in the mapping.
    private readonly int[] _salientColumns;
    private readonly float[]? _salientScale;
    private readonly byte* _codes;
    private readonly long _codeBytes;
    private readonly int _salientBits;
    private readonly int _codeOffset;

    // The prepared batch.
    private sbyte* _q;
    private readonly float[] _d;
    private readonly float[] _blockSumTotal;
    private readonly float[] _salientInput;
    private readonly int _salientStride;
    private readonly float[] _salientOffsetSum;
    private readonly float[] _unsalientSum;
    private readonly float[] _scratch;
    private readonly int[] _blockSums;

    private SageCpuLinear(PackedModel pack, LinearRecord record, int maxTokens, SignDotPath path)
        : base(record.Name, record.Rows, record.Cols, maxTokens)
    {
        _pack = pack;
        _path = path;
        _weightBytes = record.Sections.Sum(s => s.Length);
        int rows = Rows, cols = Cols;

        var flags = (SageFlags)Parameter(record, "flags");
        int mode = Parameter(record, "scale_mode");
        int groups = Parameter(record, "groups");
        int salientCount = Parameter(record, "salient_count");
        _salientBits = Parameter(record, "salient_bits");
        if (((int)flags & ~SageLayout.KnownFlags) != 0) throw Bad($"unknown flags {(int)flags}");
        if ((flags & SageFlags.SalientPerWeight) != 0)
            throw new NotSupportedException($"linear {Name}: per-weight salient positions are not supported by the sage CPU kernel (use the decoded path)");
        if ((flags & SageFlags.GroupPerWeight) != 0)
            throw new NotSupportedException($"linear {Name}: per-weight group ids are not supported by the sage CPU kernel (use the decoded path)");
        if (mode == 2)
            throw new NotSupportedException($"linear {Name}: scale_mode 2 (a scale table per row) is not supported by the sage CPU kernel (use the decoded path)");
        if (mode is not (0 or 1)) throw Bad($"scale_mode {mode}");
        if (groups is < 1 or > 255) throw Bad($"{groups} groups");
        if (_salientBits is < 2 or > 8) throw Bad($"salient_bits {_salientBits}");
        if (salientCount < 0 || salientCount > cols) throw Bad($"salient_count {salientCount}");

        _stride = SignPlanes.RowBytes(cols);
        _fullBlocks = cols / Block;
        _blocks = SignPlanes.BlockCount(cols);
        _tailWeights = cols - _fullBlocks * Block;
        _tailBytes = (_tailWeights + 7) / 8;
        _tiledSigns = (flags & SageFlags.TiledSigns) != 0;
        _storedSigns = Section(record, "signs", (long)rows * _stride, out long signBytes);
        if (_tiledSigns)
        {
            _untiledCopy = (byte*)NativeMemory.AlignedAlloc((nuint)signBytes, 64);
            SignPlanes.Untile(new ReadOnlySpan<byte>(_storedSigns, checked((int)signBytes)), new Span<byte>(_untiledCopy, (int)signBytes), rows, cols);
            _signs = _untiledCopy;
        }
        else _signs = _storedSigns;

        var table = Halves(Section(record, "group_scales", 2L * groups, out _), groups);
        if (mode == 1) _rowScale = Pinned(Halves(Section(record, "row_scales", 2L * rows, out _), rows));
        else
        {
            _rowScale = GC.AllocateUninitializedArray<float>(rows, pinned: true);
            _rowScale.AsSpan().Fill(1f);
        }
        if ((flags & SageFlags.RowOffsets) != 0)
            _rowOffset = Pinned(Halves(Section(record, "row_offsets", 2L * rows, out _), rows));

        _columnScale = GC.AllocateUninitializedArray<float>(cols, pinned: true);
        if (groups > 1)
        {
            byte* ids = Section(record, "group_ids", cols, out _);
            for (int j = 0; j < cols; j++)
                _columnScale[j] = ids[j] < groups ? table[ids[j]] : throw Bad($"group id {ids[j]} at column {j} is not below {groups}");
        }
        else _columnScale.AsSpan().Fill(table[0]);

        _salientColumns = new int[salientCount];
        if (salientCount > 0)
        {
            byte* columns = Section(record, "salient_columns", 2L * salientCount, out _);
            for (int r = 0; r < salientCount; r++)
            {
                int column = BinaryPrimitives.ReadUInt16LittleEndian(new ReadOnlySpan<byte>(columns + 2 * r, 2));
                if (column >= cols || (r > 0 && column <= _salientColumns[r - 1]))
                    throw Bad($"salient column {column} (entry {r}) is out of range or not ascending");
                _salientColumns[r] = column;
                _columnScale[column] = 0;   // salient columns take no part in the binary product
            }
            _codes = Section(record, "salient_codes", ((long)rows * salientCount * _salientBits + 7) / 8, out _codeBytes);
            _salientScale = Pinned(Halves(Section(record, "salient_scales", 2L * rows, out _), rows));
            _codeOffset = 1 << (_salientBits - 1);
        }

        if ((flags & SageFlags.Rotated) != 0)
        {
            ulong seed = (uint)Parameter(record, "rotate_seed_lo") | ((ulong)(uint)Parameter(record, "rotate_seed_hi") << 32);
            _rotationSigns = RandomizedHadamard.Signs(cols, seed);
        }

        _q = (sbyte*)NativeMemory.AlignedAlloc((nuint)maxTokens * (nuint)_blocks * Block, 64);
        _d = GC.AllocateUninitializedArray<float>(maxTokens * _blocks, pinned: true);
        _blockSumTotal = GC.AllocateUninitializedArray<float>(maxTokens, pinned: true);
        // Zero-padded per token to a multiple of 8 (SalientCodes.Dot4Padded / Dot4Nibbles): the pads stay zero.
        _salientStride = SalientCodes.PaddedCount(salientCount);
        _salientInput = GC.AllocateArray<float>(maxTokens * _salientStride, pinned: true);
        _salientOffsetSum = GC.AllocateUninitializedArray<float>(maxTokens, pinned: true);
        _unsalientSum = GC.AllocateUninitializedArray<float>(maxTokens, pinned: true);
        _scratch = GC.AllocateUninitializedArray<float>(cols, pinned: true);
        _blockSums = GC.AllocateUninitializedArray<int>(_blocks, pinned: true);
    }

    ~SageCpuLinear() => Dispose(false);

    /// <summary>
    /// The kernel for linear <paramref name="name"/> of <paramref name="pack"/>, taking up to
    /// <paramref name="maxTokens"/> inputs per <see cref="Prepare"/>.
    /// </summary>
    /// <exception cref="KeyNotFoundException">The pack has no linear of that name.</exception>
    /// <exception cref="ArgumentException">The linear is not in the sage layout.</exception>
    /// <exception cref="NotSupportedException">A sage structure this kernel does not handle (per-weight groups or salient positions, scale mode 2).</exception>
    /// <exception cref="InvalidDataException">The linear's parameters or sections are malformed.</exception>
    public static SageCpuLinear Create(PackedModel pack, string name, int maxTokens) => Create(pack, name, maxTokens, SignDotPaths.Best);

    /// <summary>As <see cref="Create(PackedModel, string, int)"/>, on a chosen instruction set (tests).</summary>
    internal static SageCpuLinear Create(PackedModel pack, string name, int maxTokens, SignDotPath path)
    {
        ArgumentNullException.ThrowIfNull(pack);
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (!SignDotPaths.IsSupported(path)) throw new ArgumentException($"this machine cannot run the {path} kernels", nameof(path));
        var record = pack.Manifest.FindLinear(name) ?? throw new KeyNotFoundException($"linear '{name}' is not in {pack.PackPath}");
        if (record.Layout != SageLayout.LayoutName)
            throw new ArgumentException($"linear {name} has layout '{record.Layout}', not '{SageLayout.LayoutName}'", nameof(name));
        return new SageCpuLinear(pack, record, maxTokens, path);
    }

    /// <summary>Whether this kernel handles a sage linear with these parameters (else a decoded path must).</summary>
    public static bool Supports(IReadOnlyDictionary<string, int> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var flags = (SageFlags)parameters.GetValueOrDefault("flags");
        return (flags & (SageFlags.SalientPerWeight | SageFlags.GroupPerWeight)) == 0 && parameters.GetValueOrDefault("scale_mode") is 0 or 1;
    }

    /// <inheritdoc />
    public override long WeightBytes => _weightBytes;

    /// <summary>The instruction set this instance runs.</summary>
    internal SignDotPath KernelPath => _path;

    /// <summary>The sign planes <see cref="Multiply"/> reads, plane-order rows of <see cref="SignRowBytes"/> (profiling).</summary>
    internal byte* Signs => _signs;

    /// <summary>Bytes of one row's sign planes.</summary>
    internal int SignRowBytes => _stride;

    /// <inheritdoc />
    public override void Prepare(ReadOnlySpan<float> input, int tokens)
    {
        ObjectDisposedException.ThrowIf(_q == null, this);
        ArgumentOutOfRangeException.ThrowIfLessThan(tokens, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(tokens, MaxTokens);
        if (input.Length < (long)tokens * Cols)
            throw new ArgumentException($"{tokens} inputs of {Cols} need {(long)tokens * Cols} values, got {input.Length}", nameof(input));
        int cols = Cols, salient = _salientColumns.Length;
        var x = _scratch.AsSpan();
        for (int t = 0; t < tokens; t++)
        {
            input.Slice(t * cols, cols).CopyTo(x);
            if (_rotationSigns is not null) FastHadamard.Forward(x, _rotationSigns);

            float salientSum = 0;
            if (salient > 0)
            {
                var gathered = _salientInput.AsSpan(t * _salientStride, salient);
                for (int r = 0; r < salient; r++)
                {
                    float value = x[_salientColumns[r]];
                    gathered[r] = value;
                    salientSum += value;
                }
            }
            // Σ_r (code − 2^(b−1))·x'_r = Σ_r code·x'_r − 2^(b−1)·Σ_r x'_r: the second term is the same for every row.
            _salientOffsetSum[t] = _codeOffset * salientSum;
            if (_rowOffset is not null) _unsalientSum[t] = TensorPrimitives.Sum<float>(x) - salientSum;

            TensorPrimitives.Multiply(x, _columnScale, x);
            sbyte* q = _q + (nint)t * _blocks * Block;
            var d = _d.AsSpan(t * _blocks, _blocks);
            ActivationQuantizer.Quantize(x, Block, new Span<sbyte>(q, cols), d, _blockSums);
            if (_tailWeights > 0) SpreadTail(q + (nint)_fullBlocks * Block);

            float total = 0;
            for (int b = 0; b < _blocks; b++) total += d[b] * _blockSums[b];
            _blockSumTotal[t] = total;
        }
        PreparedTokens = tokens;
    }

    /// <summary>
    /// Moves the short last block's codes to the positions the full-block kernel reads: weight u of a block
    /// of n weights sits at byte u mod B, bit u / B of its B sign bytes, so its code goes to 32·(u / B) + u mod B;
    /// every other position of the 256 is 0, which makes the unused sign bits irrelevant.
    /// </summary>
    private void SpreadTail(sbyte* tail) => SpreadTail(tail, _tailWeights);

    /// <summary>
    /// <see cref="SpreadTail(sbyte*)"/> for a block of <paramref name="weights"/> (1..255) codes: plane p holds
    /// weights p·B .. p·B + B − 1 (B = ⌈n / 8⌉ bytes), so each plane is one run of consecutive codes copied to
    /// offset 32·p, with no division per code.
    /// </summary>
    internal static void SpreadTail(sbyte* tail, int weights)
    {
        int width = (weights + 7) / 8;
        sbyte* codes = stackalloc sbyte[Block];
        Unsafe.CopyBlockUnaligned(codes, tail, (uint)weights);
        Unsafe.InitBlockUnaligned(tail, 0, Block);
        for (int plane = 0, first = 0; first < weights; plane++, first += width)
            Unsafe.CopyBlockUnaligned(tail + SignDot.BlockBytes * plane, codes + first, (uint)Math.Min(width, weights - first));
    }

    /// <summary>
    /// How far ahead of the current 4-row tile the sign rows are prefetched: two tiles for narrow rows, one and
    /// a half for tiles above 2 KB. The hardware prefetcher alone left a LLaMA-2-7B shaped pack (1 GB, far beyond
    /// the caches) at 2.8 GB/s on one thread; two tiles ahead gave 4.2–5 GB/s (1, 3, 4 and 8 measured less). At
    /// 11,008 columns (5.5 KB tiles) two tiles (11 KB) were 7 % slower than 8 KB, while at 4,096 columns (2 KB
    /// tiles) 8 KB was 5 % slower than 4 KB (`sageptq bench --profile`, docs/runtime.md).
    /// </summary>
    private static nint PrefetchDistance(int rowBytes) => 4 * rowBytes <= 2048 ? 8 * rowBytes : (6 * rowBytes + 63) & ~63;

    /// <inheritdoc />
    public override void Multiply(Span<float> output, int rowStart, int rowEnd)
    {
        ObjectDisposedException.ThrowIf(_q == null, this);
        int tokens = PreparedTokens, rows = Rows;
        if (tokens == 0) throw new InvalidOperationException($"linear {Name}: Multiply before Prepare");
        if (rowStart < 0 || rowEnd > rows || rowStart > rowEnd)
            throw new ArgumentOutOfRangeException(nameof(rowStart), $"rows [{rowStart}, {rowEnd}) are not within [0, {rows})");
        if (output.Length < (long)tokens * rows)
            throw new ArgumentException($"{tokens} outputs of {rows} need {(long)tokens * rows} values, got {output.Length}", nameof(output));

        int salient = _salientColumns.Length;
        int codeStride = salient + SalientCodes.BufferSlack;
        byte[]? rented = salient > StackCodes ? ArrayPool<byte>.Shared.Rent(4 * codeStride) : null;
        Span<byte> codeBuffer = rented is null ? stackalloc byte[4 * (Math.Min(salient, StackCodes) + SalientCodes.BufferSlack)] : rented;
        byte** codeRows = stackalloc byte*[4];
        float* salientDot = stackalloc float[4];
        byte* stage = stackalloc byte[4 * SignDot.BlockBytes];
        float* dot = stackalloc float[4];
        float* tail = stackalloc float[4];
        int blocksPerToken = _blocks;
        nint prefetchAhead = PrefetchDistance(_stride);
        // The last tile start whose prefetch stays inside the range's rows.
        byte* lastPrefetched = _signs + (nint)rowEnd * _stride - 4 * (nint)_stride - prefetchAhead;
        nint tailSignOffset = (nint)_fullBlocks * SignDot.BlockBytes;
        try
        {
            fixed (float* outBase = output)
            fixed (byte* codeScratch = codeBuffer)
            fixed (float* salientInput = _salientInput)
            fixed (float* d = _d)
            fixed (float* rowScale = _rowScale)
            fixed (float* salientScale = _salientScale)
            fixed (float* salientOffset = _salientOffsetSum)
            fixed (float* blockSumTotal = _blockSumTotal)
            fixed (float* rowOffset = _rowOffset)
            fixed (float* unsalientSum = _unsalientSum)
            {
                for (int r0 = rowStart; r0 < rowEnd; r0 += 4)
                {
                    int n = Math.Min(4, rowEnd - r0);
                    byte* s0 = _signs + (nint)r0 * _stride;
                    byte* s1 = n > 1 ? s0 + _stride : s0;
                    byte* s2 = n > 2 ? s1 + _stride : s1;
                    byte* s3 = n > 3 ? s2 + _stride : s2;
                    if (Sse.IsSupported && s0 <= lastPrefetched)
                    {
                        byte* ahead = s0 + prefetchAhead;
                        for (nint line = 0; line < 4 * _stride; line += 64) Sse.Prefetch0(ahead + line);
                    }
                    if (_tailWeights > 0)
                    {
                        // The short block's bytes end the row; staging them keeps the 32-byte loads inside the map.
                        Unsafe.CopyBlockUnaligned(stage, s0 + tailSignOffset, (uint)_tailBytes);
                        Unsafe.CopyBlockUnaligned(stage + 32, s1 + tailSignOffset, (uint)_tailBytes);
                        Unsafe.CopyBlockUnaligned(stage + 64, s2 + tailSignOffset, (uint)_tailBytes);
                        Unsafe.CopyBlockUnaligned(stage + 96, s3 + tailSignOffset, (uint)_tailBytes);
                    }
                    for (int t = 0; t < tokens; t++)
                    {
                        sbyte* q = _q + (nint)t * blocksPerToken * Block;
                        float* dt = d + (nint)t * blocksPerToken;
                        SignDot.Dot4(_path, s0, s1, s2, s3, q, dt, _fullBlocks, dot);
                        if (_tailWeights > 0)
                        {
                            SignDot.Dot4(_path, stage, stage + 32, stage + 64, stage + 96, q + (nint)_fullBlocks * Block, dt + _fullBlocks, 1, tail);
                            for (int k = 0; k < 4; k++) dot[k] += tail[k];
                        }
                        float total = blockSumTotal[t];
                        float* y = outBase + (nint)t * rows + r0;
                        if (n == 4)
                        {
                            // The full tile in one vector: per lane the same operations, unfused, as the loops below.
                            var value = Vector128.Load(rowScale + r0) * (Vector128.Create(2f) * Vector128.Load(dot) - Vector128.Create(total));
                            if (rowOffset != null) value += Vector128.Load(rowOffset + r0) * Vector128.Create(unsalientSum[t]);
                            value.Store(y);
                        }
                        else
                        {
                            for (int k = 0; k < n; k++) y[k] = rowScale[r0 + k] * (2 * dot[k] - total);
                            if (rowOffset != null)
                                for (int k = 0; k < n; k++) y[k] += rowOffset[r0 + k] * unsalientSum[t];
                        }
                    }
                    if (salient > 0) SalientRows(outBase, r0, n, tokens, codeScratch, codeRows, salientDot, salientInput, salientScale, salientOffset);
                }
            }
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// Adds the salient part of rows r0 .. r0 + n − 1 (one tile) for every prepared token. 4-bit codes of an even
    /// count start every row on a byte and are taken apart in registers; other widths are expanded to one byte
    /// each first (the tile's rows are consecutive in the code stream: one call).
    /// </summary>
    private void SalientRows(float* outBase, int r0, int n, int tokens, byte* codeScratch, byte** codeRows, float* salientDot, float* salientInput,
        float* salientScale, float* salientOffset)
    {
        int salient = _salientColumns.Length, rows = Rows;
        bool nibbles = _salientBits == 4 && (salient & 1) == 0;
        if (!nibbles)
        {
            byte* codes = SalientCodes.Expand(_codes, _codeBytes, (long)r0 * salient, n * salient, _salientBits, codeScratch);
            for (int k = 0; k < 4; k++) codeRows[k] = codes + (nint)Math.Min(k, n - 1) * salient;
        }
        float* scale = salientScale + r0;
        for (int t = 0; t < tokens; t++)
        {
            float* x = salientInput + (nint)t * _salientStride;
            if (nibbles) SalientCodes.Dot4Nibbles(_codes + (long)r0 * (salient / 2), salient / 2, n, x, salient, salientDot, _codes + _codeBytes);
            else if (_salientBits == 8) SalientCodes.Dot4(codeRows[0], codeRows[1], codeRows[2], codeRows[3], x, salient, salientDot);
            else SalientCodes.Dot4Padded(codeRows[0], codeRows[1], codeRows[2], codeRows[3], x, salient, salientDot);
            float* y = outBase + (nint)t * rows + r0;
            float offset = salientOffset[t];
            if (n == 4)
            {
                // The common full tile in one vector: per lane the same subtract, multiply and add (not fused) as the loop below.
                var sum = Vector128.Load(y) + Vector128.Load(scale) * (Vector128.Load(salientDot) - Vector128.Create(offset));
                sum.Store(y);
            }
            else
                for (int k = 0; k < n; k++) y[k] += scale[k] * (salientDot[k] - offset);
        }
    }

    /// <summary>Code <paramref name="index"/> of the LSB-first b-bit stream (b ≤ 8 spans at most two bytes).</summary>
    private int Code(long index)
    {
        long bit = index * _salientBits;
        long at = bit >> 3;
        int word = _codes[at];
        if (at + 1 < _codeBytes) word |= _codes[at + 1] << 8;
        return word >> (int)(bit & 7) & ((1 << _salientBits) - 1);
    }

    /// <inheritdoc />
    public override void DecodeRow(int row, Span<float> destination)
    {
        ObjectDisposedException.ThrowIf(_q == null, this);
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, Rows);
        int cols = Cols;
        if (destination.Length < cols) throw new ArgumentException($"destination holds {destination.Length} values, a row has {cols}", nameof(destination));
        var w = destination[..cols];
        // The row's plane-order bytes in the stored section: consecutive, or found byte by byte in the tiles.
        byte* signs = _tiledSigns ? null : _storedSigns + (nint)row * _stride;
        float rowScale = _rowScale[row], offset = _rowOffset?[row] ?? 0f;
        for (int j = 0; j < cols; j++)
        {
            // Same float operations as SageLayout.Decode: α = row scale · table value, then μ ± α.
            int blockStart = j / Block * Block, width = j >= _fullBlocks * Block ? _tailBytes : SignDot.BlockBytes, u = j - blockStart;
            int at = blockStart / 8 + u % width;
            byte signByte = _tiledSigns ? _storedSigns[SignPlanes.TiledOffset(row, at, Rows, cols)] : signs[at];
            bool positive = (signByte >> (u / width) & 1) != 0;
            float alpha = rowScale * _columnScale[j];
            w[j] = offset + (positive ? alpha : -alpha);
        }
        int salient = _salientColumns.Length;
        for (int r = 0; r < salient; r++)
            w[_salientColumns[r]] = _salientScale![row] * (Code((long)row * salient + r) - _codeOffset);
        if (_rotationSigns is not null) RandomizedHadamard.Inverse(w, _rotationSigns);
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (_q != null)
        {
            NativeMemory.AlignedFree(_q);
            _q = null;
        }
        if (_untiledCopy != null)
        {
            NativeMemory.AlignedFree(_untiledCopy);
            _untiledCopy = null;
        }
        base.Dispose(disposing);
    }

    private InvalidDataException Bad(string problem) => new($"sage linear {Name}: {problem}");

    private int Parameter(LinearRecord record, string name) =>
        record.Parameters.TryGetValue(name, out int value) ? value : throw Bad($"parameter '{name}' is missing");

    /// <summary>A section's bytes in the mapping, after checking its length.</summary>
    private byte* Section(LinearRecord record, string section, long expected, out long length)
    {
        if (!record.Sections.Any(s => s.Name == section)) throw Bad($"section '{section}' is missing");
        var bytes = _pack.GetTensorBytes(PackFormat.SectionTensorName(record.Name, section));
        if (bytes.Length != expected) throw Bad($"section '{section}' has {bytes.Length} bytes, expected {expected}");
        length = bytes.Length;
        return (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(bytes));
    }

    private static float[] Halves(byte* bytes, int count)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++) values[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(new ReadOnlySpan<byte>(bytes + 2 * i, 2));
        return values;
    }

    private static float[] Pinned(float[] values)
    {
        var pinned = GC.AllocateUninitializedArray<float>(values.Length, pinned: true);
        values.CopyTo(pinned, 0);
        return pinned;
    }
}
