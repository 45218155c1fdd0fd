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

    /// <summary>
    /// <see cref="Prepare"/> builds and keeps the lookup tables of batches up to this many tokens (decoding).
    /// Tables take 8 times the bytes of the int8 activations, so keeping them for a whole prompt batch of a 7B
    /// model would cost hundreds of MB: larger batches build a few tokens' tables at a time in each
    /// <see cref="Multiply"/> call instead (<see cref="PromptTableBytes"/>), which costs a few percent of the product.
    /// </summary>
    private const int LookupTokens = 8;

    /// <summary>
    /// Table bytes a prompt batch's <see cref="Multiply"/> builds at once, half the 1 MB L2 of the machines measured:
    /// eight tokens' tables at 4,096 columns, five at 11,008. One token at a time, which read every tile once per
    /// token, prefilled the 7B shape at 28.7–36.1 tok/s, these chunks at 29.6–38.7 (`bench --prompt 64`, nine pairs
    /// alternating; medians 29.7 and 33.4).
    /// </summary>
    private const long PromptTableBytes = 512 * 1024;

    private const int TileRows = SignPlanes.TileRows;

    private readonly PackedModel _pack;
    private readonly SignDotPath _path;
    private readonly long _weightBytes;

    // Sign planes, straight from the mapping: plane-order rows, or row-tiled (SignPlanes) when _tiledSigns.
    private readonly byte* _signs;
    private readonly bool _tiledSigns;
    private readonly int _tiledRows;
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

    // The prepared batch. With tiled signs on a machine that runs SignLut, batches of up to _tableTokens tokens
    // also get their lookup tables (SignLut.TableBytes per full block and token).
    private sbyte* _q;
    private byte* _tables;
    private readonly int _tableTokens;
    private bool _tablesPrepared;
    private readonly float[] _d;
    private readonly float[] _blockSumTotal;
    private short* _salientInput;            // int16 per token (SalientCodes.QuantizeInputs), _salientStride apart
    private readonly bool _nibbles;          // 4-bit codes: read in place, inputs laid out by SalientCodes.SplitForNibbles
    private readonly int _salientHalf;       // with _nibbles: where the odd-nibble inputs start, a multiple of 16
    private readonly short[] _salientValues; // one token's rounded inputs, in column order
    private readonly int _salientStride;
    private readonly int _salientRange;
    private readonly float[] _salientInputScale;
    private readonly float[] _salientGathered;
    private readonly int[] _salientOffsetSum;
    private readonly float[] _unsalientSum;
    private readonly float[]? _rotated;      // x' of one token, when the linear is rotated
    private readonly int[] _blockSums;       // S_b per token and block

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
        _tiledRows = _tiledSigns ? rows / TileRows * TileRows : 0;
        _signs = Section(record, "signs", (long)rows * _stride, out _);

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
        if (_tiledRows > 0 && _fullBlocks > 0 && SignLut.IsSupported && path is SignDotPath.Avx2 or SignDotPath.Avx512 or SignDotPath.AvxVnni)
        {
            _tableTokens = Math.Min(maxTokens, LookupTokens);
            _tables = (byte*)NativeMemory.AlignedAlloc((nuint)_tableTokens * (nuint)_fullBlocks * SignLut.TableBytes, 64);
        }
        _d = GC.AllocateUninitializedArray<float>(maxTokens * _blocks, pinned: true);
        _blockSumTotal = GC.AllocateUninitializedArray<float>(maxTokens, pinned: true);
        _nibbles = _salientBits == 4;
        _salientHalf = (SalientCodes.NibbleRowBytes(salientCount) + 15) & ~15;
        // Nibbles: the layout for rows that start on a byte, then (odd counts) the one for rows that start mid-byte,
        // each rewritten whole, zero pads included, by every Prepare.
        _salientStride = _nibbles ? 2 * _salientHalf * (1 + (salientCount & 1)) : salientCount;
        _salientValues = new short[salientCount];
        _salientRange = SalientCodes.InputRange(salientCount, _salientBits);
        _salientInput = (short*)NativeMemory.AlignedAlloc((nuint)maxTokens * (nuint)Math.Max(1, _salientStride) * 2, 64);
        _salientInputScale = GC.AllocateUninitializedArray<float>(maxTokens, pinned: true);
        _salientGathered = new float[salientCount];
        _salientOffsetSum = GC.AllocateUninitializedArray<int>(maxTokens, pinned: true);
        _unsalientSum = GC.AllocateUninitializedArray<float>(maxTokens, pinned: true);
        if (_rotationSigns is not null) _rotated = GC.AllocateUninitializedArray<float>(cols, pinned: true);
        _blockSums = GC.AllocateUninitializedArray<int>(maxTokens * _blocks, pinned: true);
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

    /// <summary>The sign section in the mapping, in its stored order (profiling).</summary>
    internal byte* Signs => _signs;

    /// <summary>Tiled signs are multiplied a whole tile at a time.</summary>
    public override int RowGranularity => _tiledSigns ? TileRows : 4;

    private byte* TablesOf(int token) => _tables + (nint)token * _fullBlocks * SignLut.TableBytes;

    /// <summary>Bytes of one row's sign planes.</summary>
    internal int SignRowBytes => _stride;

    /// <inheritdoc />
    public override void Prepare(ReadOnlySpan<float> input, int tokens)
    {
        ObjectDisposedException.ThrowIf(_q == null, this);
        CpuLinearGuards.CheckPrepare(this, input, tokens);
        bool tables = _tables != null && tokens <= _tableTokens;
        for (int t = 0; t < tokens; t++)
        {
            var x = PrepareWhole(input, t);
            PrepareBlocks(x, t, 0, _blocks, tables);
            FinishToken(t);
        }
        _tablesPrepared = tables;
        PreparedTokens = tokens;
    }

    /// <summary>Blocks of one part of a shared prepare: four blocks (1,024 columns) cost about a microsecond.</summary>
    private const int PartBlocks = 4;

    /// <summary>A single token is prepared in parts when there are at least two; batches in one piece.</summary>
    internal override int BeginPrepare(ReadOnlySpan<float> input, int tokens)
    {
        int parts = (_blocks + PartBlocks - 1) / PartBlocks;
        if (tokens != 1 || parts < 2)
        {
            Prepare(input, tokens);
            return 0;
        }
        ObjectDisposedException.ThrowIf(_q == null, this);
        CpuLinearGuards.CheckPrepare(this, input, tokens);
        PrepareWhole(input, 0);
        return parts;
    }

    internal override void PreparePart(ReadOnlySpan<float> input, int part)
    {
        ReadOnlySpan<float> x = _rotated ?? input[..Cols];
        PrepareBlocks(x, 0, part * PartBlocks, Math.Min(_blocks, (part + 1) * PartBlocks), _tables != null);
    }

    internal override void EndPrepare()
    {
        FinishToken(0);
        _tablesPrepared = _tables != null;
        PreparedTokens = 1;
    }

    /// <summary>
    /// The steps of token <paramref name="t"/>'s prepare that need its whole input: x' (the input itself or,
    /// rotated, a copy rotated in place), the salient inputs and, with offsets, the unsalient sum. Returns x'.
    /// </summary>
    private ReadOnlySpan<float> PrepareWhole(ReadOnlySpan<float> input, int t)
    {
        int cols = Cols, salient = _salientColumns.Length;
        var x = input.Slice(t * cols, cols);
        if (_rotated is not null)
        {
            x.CopyTo(_rotated);
            FastHadamard.Forward(_rotated, _rotationSigns!);
            x = _rotated;
        }

        float salientSum = 0;
        if (salient > 0)
        {
            var gathered = _salientGathered.AsSpan();
            for (int r = 0; r < salient; r++)
            {
                float value = x[_salientColumns[r]];
                gathered[r] = value;
                salientSum += value;
            }
            // Σ_r (code − 2^(b−1))·x'_r = s·(Σ_r code·q_r − 2^(b−1)·Σ_r q_r) with x'_r ≈ s·q_r: the second term is the same for every row.
            short* inputs = _salientInput + (nint)t * _salientStride;
            var values = _nibbles ? _salientValues : new Span<short>(inputs, salient);
            _salientInputScale[t] = SalientCodes.QuantizeInputs(gathered, values, _salientRange, out int sum);
            _salientOffsetSum[t] = _codeOffset * sum;
            if (_nibbles)
            {
                SalientCodes.SplitForNibbles(values, inputs, _salientHalf, shift: 0);
                if ((salient & 1) != 0) SalientCodes.SplitForNibbles(values, inputs + 2 * _salientHalf, _salientHalf, shift: 1);
            }
        }
        if (_rowOffset is not null) _unsalientSum[t] = TensorPrimitives.Sum<float>(x) - salientSum;
        return x;
    }

    /// <summary>
    /// Blocks [<paramref name="first"/>, <paramref name="end"/>) of token <paramref name="t"/>: v = c·x' one block
    /// at a time (still in L1 when it is quantized), its int8 codes, scale and code sum, and with
    /// <paramref name="tables"/> the full blocks' lookup tables. Parts of one token may run on different threads.
    /// </summary>
    private void PrepareBlocks(ReadOnlySpan<float> x, int t, int first, int end, bool tables)
    {
        sbyte* q = _q + (nint)t * _blocks * Block;
        var d = _d.AsSpan(t * _blocks, _blocks);
        var sums = _blockSums.AsSpan(t * _blocks, _blocks);
        Span<float> v = stackalloc float[Block];
        for (int b = first; b < end; b++)
        {
            int start = b * Block, length = Math.Min(Block, Cols - start);
            TensorPrimitives.Multiply(x.Slice(start, length), _columnScale.AsSpan(start, length), v);
            ActivationQuantizer.Quantize(v[..length], Block, new Span<sbyte>(q + start, length), d.Slice(b, 1), sums.Slice(b, 1));
        }
        if (_tailWeights > 0 && end == _blocks) SpreadTail(q + (nint)_fullBlocks * Block);
        int fullEnd = Math.Min(end, _fullBlocks);
        if (tables && first < fullEnd) SignLut.BuildTables(q + (nint)first * Block, fullEnd - first, TablesOf(t) + (nint)first * SignLut.TableBytes);
    }

    /// <summary>Σ_b d_b·S_b of token <paramref name="t"/>, once all its blocks are prepared (in block order: the same bits however they were split).</summary>
    private void FinishToken(int t)
    {
        float total = 0;
        for (int b = t * _blocks, end = b + _blocks; b < end; b++) total += _d[b] * _blockSums[b];
        _blockSumTotal[t] = total;
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
    /// How far ahead of the current 4-row group the sign rows are prefetched: two groups for narrow rows, one and
    /// a half for groups above 2 KB. The hardware prefetcher alone left a LLaMA-2-7B shaped pack (1 GB, far beyond
    /// the caches) at 2.8 GB/s on one thread; two groups ahead gave 4.2–5 GB/s (1, 3, 4 and 8 measured less). At
    /// 11,008 columns (5.5 KB groups) two groups (11 KB) were 7 % slower than 8 KB, while at 4,096 columns (2 KB
    /// groups) 8 KB was 5 % slower than 4 KB (`sageptq bench --profile`, docs/runtime.md).
    /// </summary>
    private static nint PrefetchDistance(int rowBytes) => 4 * rowBytes <= 2048 ? 8 * rowBytes : (6 * rowBytes + 63) & ~63;

    /// <summary>
    /// The pinned buffers of one <see cref="Multiply"/> call, for the row loops it hands them to, and the tokens
    /// [FirstToken, EndToken) the table loops cover with their tables (token t's at Tables + (t − FirstToken)·TableStride).
    /// </summary>
    private struct Buffers
    {
        public float* Output, D, RowScale, RowOffset, UnsalientSum, BlockSumTotal, SalientScale, SalientInputScale;
        public int* SalientOffset, SalientDot;
        public byte* CodeScratch;
        public byte** CodeRows;
        public int FirstToken, EndToken;
        public byte* Tables;
        public nint TableStride;
    }

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
        byte[]? rentedCodes = salient > StackCodes ? ArrayPool<byte>.Shared.Rent(4 * codeStride) : null;
        Span<byte> codeBuffer = rentedCodes is null ? stackalloc byte[4 * (Math.Min(salient, StackCodes) + SalientCodes.BufferSlack)] : rentedCodes;
        byte[]? untiled = null, tableBuffer = null;
        try
        {
            fixed (float* outBase = output)
            fixed (byte* codeScratch = codeBuffer)
            fixed (float* salientInputScale = _salientInputScale)
            fixed (float* d = _d)
            fixed (float* rowScale = _rowScale)
            fixed (float* salientScale = _salientScale)
            fixed (int* salientOffset = _salientOffsetSum)
            fixed (float* blockSumTotal = _blockSumTotal)
            fixed (float* rowOffset = _rowOffset)
            fixed (float* unsalientSum = _unsalientSum)
            {
                int* salientDot = stackalloc int[4];
                byte** codeRows = stackalloc byte*[4];
                var buffers = new Buffers
                {
                    Output = outBase, D = d, RowScale = rowScale, RowOffset = rowOffset, UnsalientSum = unsalientSum,
                    BlockSumTotal = blockSumTotal, SalientInputScale = salientInputScale, SalientScale = salientScale, SalientOffset = salientOffset,
                    SalientDot = salientDot, CodeScratch = codeScratch, CodeRows = codeRows,
                    FirstToken = 0, EndToken = tokens, Tables = _tables, TableStride = (nint)_fullBlocks * SignLut.TableBytes,
                };
                // Whole tiles inside the range go through the tables: the prepared ones (decoding), or, for a prompt
                // batch, one token's at a time built here into a buffer of this call. Rows in cut tiles are untiled;
                // rows after the last tile, and untiled packs, are read in plane order.
                int tiledEnd = Math.Min(rowEnd, _tiledRows);
                int wholeStart = Math.Min((rowStart + TileRows - 1) / TileRows * TileRows, tiledEnd), wholeEnd = Math.Max(wholeStart, tiledEnd / TileRows * TileRows);
                if (rowStart < wholeStart) StagedTiles(ref buffers, rowStart, wholeStart, ref untiled);
                if (_tables == null) StagedTiles(ref buffers, wholeStart, wholeEnd, ref untiled);
                else if (_tablesPrepared) LookupTiles(ref buffers, wholeStart, wholeEnd);
                else if (wholeStart < wholeEnd)
                {
                    // A prompt batch, a few tokens at a time: their tables stay in L2 while the range's tiles stream
                    // past, each tile read once for all of them.
                    nint stride = (nint)_fullBlocks * SignLut.TableBytes;
                    int chunk = (int)Math.Clamp(PromptTableBytes / stride, 1, LookupTokens);
                    tableBuffer = ArrayPool<byte>.Shared.Rent((int)(chunk * stride) + 63);
                    fixed (byte* pinned = tableBuffer)
                    {
                        byte* aligned = (byte*)(((nint)pinned + 63) & ~(nint)63);
                        for (int first = 0; first < tokens; first += chunk)
                        {
                            int end = Math.Min(tokens, first + chunk);
                            for (int t = first; t < end; t++)
                                SignLut.BuildTables(_q + (nint)t * _blocks * Block, _fullBlocks, aligned + (t - first) * stride);
                            (buffers.FirstToken, buffers.EndToken, buffers.TableStride) = (first, end, stride);
                            buffers.Tables = aligned;
                            LookupTiles(ref buffers, wholeStart, wholeEnd);
                        }
                    }
                    (buffers.FirstToken, buffers.EndToken) = (0, tokens);
                }
                if (wholeEnd < tiledEnd) StagedTiles(ref buffers, wholeEnd, tiledEnd, ref untiled);
                if (Math.Max(rowStart, tiledEnd) < rowEnd) PlaneRows(ref buffers, _signs, 0, Math.Max(rowStart, tiledEnd), rowEnd, streamed: true);
            }
        }
        finally
        {
            if (rentedCodes is not null) ArrayPool<byte>.Shared.Return(rentedCodes);
            if (untiled is not null) ArrayPool<byte>.Shared.Return(untiled);
            if (tableBuffer is not null) ArrayPool<byte>.Shared.Return(tableBuffer);
        }
    }

    /// <summary>
    /// Whole tiles from row <paramref name="from"/> to <paramref name="to"/> through <see cref="LookupTile"/>: on
    /// AVX-512 two at a time (each table is then loaded once for both: <see cref="SignLut.Dot32"/>) and an odd last
    /// one alone; on AVX2, which has no registers to spare for that, one at a time, prefetching one tile ahead.
    /// </summary>
    private void LookupTiles(ref Buffers p, int from, int to)
    {
        int r0 = from;
        if (SignLut.HasAvx512)
            for (; r0 + 2 * TileRows <= to; r0 += 2 * TileRows) LookupTile(ref p, r0, 2);
        for (; r0 < to; r0 += TileRows) LookupTile(ref p, r0, 1);
    }

    /// <summary>
    /// Rows <paramref name="from"/> .. <paramref name="to"/> − 1 of the tiled part through the plane kernel: each tile
    /// they touch untiled into <paramref name="untiled"/> (rented on first use), then <see cref="PlaneRows"/>.
    /// </summary>
    private void StagedTiles(ref Buffers p, int from, int to, ref byte[]? untiled)
    {
        int bytes = TileRows * _stride;
        for (int r = from; r < to;)
        {
            int tile = r - r % TileRows, end = Math.Min(to, tile + TileRows);
            untiled ??= ArrayPool<byte>.Shared.Rent(bytes);
            SignPlanes.Untile(new ReadOnlySpan<byte>(_signs + (nint)tile * _stride, bytes), untiled.AsSpan(0, bytes), TileRows, Cols);
            fixed (byte* rowsOfTile = untiled) PlaneRows(ref p, rowsOfTile, tile, r, end, streamed: false);
            r = end;
        }
    }

    /// <summary>
    /// Rows <paramref name="from"/> .. <paramref name="to"/> − 1 in plane order, four at a time through
    /// <see cref="SignDot"/>; row r's signs at <paramref name="signs"/> + (r − <paramref name="firstRow"/>)·stride.
    /// <paramref name="streamed"/>: the rows come from the mapping, so prefetch ahead of them.
    /// </summary>
    private void PlaneRows(ref Buffers p, byte* signs, int firstRow, int from, int to, bool streamed)
    {
        int tokens = PreparedTokens, rows = Rows;
        byte* stage = stackalloc byte[4 * SignDot.BlockBytes];
        float* dot = stackalloc float[4];
        float* tail = stackalloc float[4];
        nint prefetchAhead = PrefetchDistance(_stride);
        // The last group start whose prefetch stays inside the range's rows.
        byte* lastPrefetched = streamed ? signs + (nint)(to - firstRow) * _stride - 4 * (nint)_stride - prefetchAhead : null;
        nint tailSignOffset = (nint)_fullBlocks * SignDot.BlockBytes;
        for (int r0 = from; r0 < to; r0 += 4)
        {
            int n = Math.Min(4, to - r0);
            byte* s0 = signs + (nint)(r0 - firstRow) * _stride;
            byte* s1 = n > 1 ? s0 + _stride : s0;
            byte* s2 = n > 2 ? s1 + _stride : s1;
            byte* s3 = n > 3 ? s2 + _stride : s2;
            if (Sse.IsSupported && s0 <= lastPrefetched)
            {
                // Into L2: on the AVX-512 machine T1 streamed the 7B shape's planes faster than T0 at the distances
                // used here (and in 13 of SAGEPTQ_PROFILE_SWEEP's 16 cases); on the AVX2 machine before it, level.
                byte* ahead = s0 + prefetchAhead;
                for (nint line = 0; line < 4 * _stride; line += 64) Sse.Prefetch1(ahead + line);
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
                sbyte* q = _q + (nint)t * _blocks * Block;
                float* dt = p.D + (nint)t * _blocks;
                SignDot.Dot4(_path, s0, s1, s2, s3, q, dt, _fullBlocks, dot);
                if (_tailWeights > 0)
                {
                    SignDot.Dot4(_path, stage, stage + 32, stage + 64, stage + 96, q + (nint)_fullBlocks * Block, dt + _fullBlocks, 1, tail);
                    for (int k = 0; k < 4; k++) dot[k] += tail[k];
                }
                float* y = p.Output + (nint)t * rows + r0;
                if (n == 4) Finish4(ref p, t, r0, dot, y);
                else
                {
                    for (int k = 0; k < n; k++) y[k] = p.RowScale[r0 + k] * (2 * dot[k] - p.BlockSumTotal[t]);
                    if (p.RowOffset != null)
                        for (int k = 0; k < n; k++) y[k] += p.RowOffset[r0 + k] * p.UnsalientSum[t];
                }
            }
            if (_salientColumns.Length > 0) SalientRows(ref p, r0, n);
        }
    }

    /// <summary>
    /// <paramref name="tiles"/> (1 or 2) whole tiles of 16 rows from row <paramref name="r0"/> through
    /// <see cref="SignLut"/>, straight from the mapping. The short last block of each tile, stored row after row at
    /// the tile's end, goes through the plane kernel, staged as in <see cref="PlaneRows"/>.
    /// </summary>
    private void LookupTile(ref Buffers p, int r0, int tiles)
    {
        int rows = Rows, tileRows = tiles * TileRows;
        nint tileBytes = (nint)TileRows * _stride;
        byte* tile = _signs + (nint)r0 * _stride;
        float* dot = stackalloc float[2 * TileRows];
        float* tail = stackalloc float[4];
        byte* stage = stackalloc byte[2 * TileRows * SignDot.BlockBytes];
        for (int r = 0; r < tileRows && _tailWeights > 0; r++)
        {
            byte* tailSigns = tile + r / TileRows * tileBytes + (nint)_fullBlocks * SignLut.TileBlockBytes;
            Unsafe.CopyBlockUnaligned(stage + SignDot.BlockBytes * r, tailSigns + r % TileRows * _tailBytes, (uint)_tailBytes);
        }
        // The next tiles stream in while these are multiplied: their signs as far ahead, block by block, on the
        // first token, and their salient codes here (they are read in short bursts that the hardware prefetcher misses).
        nint ahead = r0 + 2 * tileRows <= _tiledRows ? tiles * tileBytes : 0;
        if (ahead != 0) PrefetchCodes(r0 + tileRows, tileRows);
        for (int t = p.FirstToken; t < p.EndToken; t++)
        {
            sbyte* q = _q + (nint)t * _blocks * Block;
            float* dt = p.D + (nint)t * _blocks;
            byte* tables = p.Tables + (t - p.FirstToken) * p.TableStride;
            nint prefetch = t == p.FirstToken ? ahead : 0;
            if (tiles == 2) SignLut.Dot32(tile, tileBytes, tables, dt, _fullBlocks, dot, prefetch);
            else SignLut.Dot16(tile, tables, dt, _fullBlocks, dot, prefetch);
            if (_tailWeights > 0)
                for (int k = 0; k < tileRows; k += 4)
                {
                    byte* s = stage + SignDot.BlockBytes * k;
                    SignDot.Dot4(_path, s, s + 32, s + 64, s + 96, q + (nint)_fullBlocks * Block, dt + _fullBlocks, 1, tail);
                    for (int i = 0; i < 4; i++) dot[k + i] += tail[i];
                }
            float* y = p.Output + (nint)t * rows + r0;
            for (int k = 0; k < tileRows; k += 4) Finish4(ref p, t, r0 + k, dot + k, y + k);
        }
        if (_salientColumns.Length > 0)
        {
            if (_nibbles) for (int k = 0; k < tileRows; k += TileRows) SalientTile(ref p, r0 + k);
            else for (int k = 0; k < tileRows; k += 4) SalientRows(ref p, r0 + k, 4);
        }
    }

    /// <summary>
    /// <see cref="SalientRows"/> for a whole tile of 4-bit codes: the four 4-row dots first, then the 16 rows'
    /// outputs in two vectors (the same operations per row as <see cref="SalientRows"/>).
    /// </summary>
    private void SalientTile(ref Buffers p, int r0)
    {
        int salient = _salientColumns.Length, rows = Rows;
        int* dot = stackalloc int[TileRows];
        for (int t = p.FirstToken; t < p.EndToken; t++)
        {
            short* x = _salientInput + (nint)t * _salientStride, shifted = (salient & 1) != 0 ? x + 2 * _salientHalf : x;
            for (int k = 0; k < TileRows; k += 4)
                SalientCodes.Dot4Nibbles(_codes, (long)(r0 + k) * salient, salient, 4, x, shifted, _salientHalf, dot + k, _codes + _codeBytes);
            float* y = p.Output + (nint)t * rows + r0;
            var step = Vector256.Create(p.SalientInputScale[t]);
            var offset = Vector256.Create(p.SalientOffset[t]);
            for (int k = 0; k < TileRows; k += 8)
            {
                // dot − offset is exact in int32: SalientCodes.InputRange bounds both terms together.
                var centred = Avx.ConvertToVector256Single(Avx2.Subtract(Avx.LoadVector256(dot + k), offset));
                Avx.Store(y + k, Avx.Add(Avx.LoadVector256(y + k), Avx.Multiply(Avx.Multiply(Avx.LoadVector256(p.SalientScale + r0 + k), step), centred)));
            }
        }
    }

    /// <summary>Prefetches the salient codes of rows <paramref name="row"/> .. + <paramref name="rows"/> − 1 (all inside the stream) into L2, as the signs.</summary>
    private void PrefetchCodes(int row, int rows)
    {
        if (_codes == null || !Sse.IsSupported) return;
        long first = (long)row * _salientColumns.Length * _salientBits / 8, last = (long)(row + rows) * _salientColumns.Length * _salientBits / 8;
        for (long at = first & ~63L; at < last; at += 64) Sse.Prefetch1(_codes + at);
    }

    /// <summary>
    /// y = a·(2·dot − Σ_b d_b·S_b) (+ μ·Σ unsalient x') for four rows from <paramref name="r0"/> and token
    /// <paramref name="t"/>: per lane the same operations, unfused, as the scalar loop of <see cref="PlaneRows"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Finish4(ref Buffers p, int t, int r0, float* dot, float* y)
    {
        var value = Vector128.Load(p.RowScale + r0) * (Vector128.Create(2f) * Vector128.Load(dot) - Vector128.Create(p.BlockSumTotal[t]));
        if (p.RowOffset != null) value += Vector128.Load(p.RowOffset + r0) * Vector128.Create(p.UnsalientSum[t]);
        value.Store(y);
    }

    /// <summary>
    /// Adds the salient part of rows r0 .. r0 + n − 1 (n ≤ 4) for every prepared token: y += t_i·s·(Σ_r code·q_r −
    /// 2^(b−1)·Σ_r q_r), the sums exact in int32. 4-bit codes are taken apart in registers where they lie; other
    /// widths are expanded to one byte each first (the group's rows are consecutive in the code stream: one call).
    /// </summary>
    private void SalientRows(ref Buffers p, int r0, int n)
    {
        int salient = _salientColumns.Length, rows = Rows;
        byte** codeRows = p.CodeRows;
        if (!_nibbles)
        {
            byte* codes = SalientCodes.Expand(_codes, _codeBytes, (long)r0 * salient, n * salient, _salientBits, p.CodeScratch);
            for (int k = 0; k < 4; k++) codeRows[k] = codes + (nint)Math.Min(k, n - 1) * salient;
        }
        float* scale = p.SalientScale + r0;
        int* dot = p.SalientDot;
        for (int t = p.FirstToken; t < p.EndToken; t++)
        {
            short* x = _salientInput + (nint)t * _salientStride;
            if (_nibbles) SalientCodes.Dot4Nibbles(_codes, (long)r0 * salient, salient, n, x, (salient & 1) != 0 ? x + 2 * _salientHalf : x, _salientHalf, dot, _codes + _codeBytes);
            else SalientCodes.Dot4(codeRows[0], codeRows[1], codeRows[2], codeRows[3], x, salient, dot);
            float* y = p.Output + (nint)t * rows + r0;
            float inputScale = p.SalientInputScale[t];
            int offset = p.SalientOffset[t];
            for (int k = 0; k < n; k++) y[k] += scale[k] * inputScale * (dot[k] - offset);
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
        byte* signs = _signs + (nint)row * _stride;
        float rowScale = _rowScale[row], offset = _rowOffset?[row] ?? 0f;
        for (int j = 0; j < cols; j++)
        {
            // Same float operations as SageLayout.Decode: α = row scale · table value, then μ ± α.
            int blockStart = j / Block * Block, width = j >= _fullBlocks * Block ? _tailBytes : SignDot.BlockBytes, u = j - blockStart;
            int at = blockStart / 8 + u % width;
            byte signByte = _tiledSigns ? _signs[SignPlanes.TiledOffset(row, at, Rows, cols)] : signs[at];
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
        if (_tables != null)
        {
            NativeMemory.AlignedFree(_tables);
            _tables = null;
        }
        if (_salientInput != null)
        {
            NativeMemory.AlignedFree(_salientInput);
            _salientInput = null;
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
