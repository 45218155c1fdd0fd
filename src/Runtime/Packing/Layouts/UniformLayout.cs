using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace SagePtq.Runtime.Packing.Layouts;

/// <summary>
/// A linear quantized on a uniform asymmetric grid (RTN, GPTQ, SEPTQ), unpacked: one b-bit code per
/// weight, an FP16 scale and a b-bit integer zero point per (row, group), and optionally a few
/// reserved weights kept in FP16 that override their grid value (SEPTQ).
/// <para>
/// Weight [r, c] decodes to <see cref="UniformLayout.Dequantize"/>(Scales[r·G + g], Codes[r·C + c],
/// Zeros[r·G + g]) with g = GroupIndex[c] when GroupIndex is given (act-order), else c / GroupSize;
/// G = ⌈C / GroupSize⌉ (the last group may be shorter). A reserved weight decodes to its FP16 value;
/// its code is the zero point, so its grid value is exactly 0 and a kernel may add the reserved
/// values as a sparse term instead of overriding.
/// </para>
/// </summary>
public sealed record UniformWeights(
    int Rows, int Cols, int Bits, int GroupSize,
    byte[] Codes, Half[] Scales, byte[] Zeros, int[]? GroupIndex,
    uint[] ReservedIndex, Half[] ReservedValue)
{
    /// <summary>Groups per row: ⌈Cols / GroupSize⌉.</summary>
    public int GroupsPerRow => (Cols + GroupSize - 1) / GroupSize;

    /// <summary>The group of column <paramref name="col"/>.</summary>
    public int GroupOf(int col) => GroupIndex is null ? col / GroupSize : GroupIndex[col];

    /// <summary>Writes the dense weights (Rows × Cols, row-major).</summary>
    public void Dequantize(Span<float> destination)
    {
        if (destination.Length != (long)Rows * Cols)
            throw new ArgumentException($"destination must hold {Rows} × {Cols} values, got {destination.Length}", nameof(destination));
        int groups = GroupsPerRow;
        for (int r = 0; r < Rows; r++)
        {
            int rowStart = r * Cols;
            for (int c = 0; c < Cols; c++)
            {
                int slot = r * groups + GroupOf(c);
                destination[rowStart + c] = UniformLayout.Dequantize((float)Scales[slot], Codes[rowStart + c], Zeros[slot]);
            }
        }
        for (int k = 0; k < ReservedIndex.Length; k++) destination[(int)ReservedIndex[k]] = (float)ReservedValue[k];
    }
}

/// <summary>
/// The <c>uniform</c> layout: one byte format for every uniform-grid method (rtn, gptq, septq).
/// <list type="bullet">
/// <item>Parameters: <c>bits</c> (2..8) and <c>group_size</c> (the effective group size ≥ 1; a
/// per-row grid is stored as group_size = cols).</item>
/// <item><c>codes</c>: rows × cols b-bit codes in row-major order as ONE continuous bit stream,
/// LSB-first (code k occupies bits [k·b, k·b + b)); rows are not padded, the stream is padded with
/// zero bits to a whole byte at the end: ⌈rows·cols·b / 8⌉ bytes.</item>
/// <item><c>scales</c>: rows × G FP16 little-endian, row-major (G = ⌈cols / group_size⌉).</item>
/// <item><c>zeros</c>: rows × G b-bit zero points, one bit stream like the codes: ⌈rows·G·b / 8⌉ bytes.</item>
/// <item><c>group_index</c> (act-order with G &gt; 1 only): the group of each column, uint16 LE
/// when G ≤ 65536, else uint32 LE.</item>
/// <item><c>reserved_index</c> + <c>reserved_value</c> (SEPTQ only, both or neither): flat
/// row·cols + col as uint32 LE, strictly ascending, and the FP16 LE value of each.</item>
/// </list>
/// Stored bytes (DESIGN.md §3) = ⌈R·C·b/8⌉ + 2·R·G + ⌈R·G·b/8⌉ [+ C·(2 or 4) group_index]
/// [+ 6 per reserved weight] + 8 (two parameters); for 2-bit g128 that is
/// 2 + 16/128 + 2/128 + 64/(R·C) bits per weight.
/// </summary>
public sealed class UniformLayout : ILinearLayout
{
    /// <summary>The layout name in the pack.</summary>
    public const string LayoutName = "uniform";

    /// <summary>Lowest and highest supported code width.</summary>
    public const int MinBits = 2, MaxBits = 8;

    /// <inheritdoc />
    public string Name => LayoutName;

    /// <summary>The value of one code: scale · (code − zero), in float. Encoders and decoders share this one expression.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dequantize(float scale, int code, int zero) => scale * (code - zero);

    /// <inheritdoc />
    public void Decode(LinearPayload payload, Span<float> destination)
    {
        var weights = Read(payload);
        if (destination.Length != (long)weights.Rows * weights.Cols)
            throw new ArgumentException($"destination must hold {weights.Rows} × {weights.Cols} values, got {destination.Length}", nameof(destination));
        weights.Dequantize(destination);
    }

    /// <summary>Packs <paramref name="weights"/> into a <c>uniform</c> payload.</summary>
    /// <exception cref="ArgumentException">The weights are inconsistent (sizes, code or zero out of range, indices).</exception>
    public static LinearPayload Encode(UniformWeights weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        try { Validate(weights); }
        catch (InvalidDataException e) { throw new ArgumentException(e.Message, nameof(weights)); }

        int bits = weights.Bits, groups = weights.GroupsPerRow;
        var sections = new List<PayloadSection>
        {
            new("codes", BitPacking.PackBits(weights.Codes, bits)),
            new("scales", BitPacking.HalvesToBytes(weights.Scales)),
            new("zeros", BitPacking.PackBits(weights.Zeros, bits)),
        };
        if (weights.GroupIndex is not null && groups > 1)
        {
            int width = GroupIndexWidth(groups);
            var bytes = new byte[weights.Cols * width];
            for (int c = 0; c < weights.Cols; c++)
            {
                if (width == 2) BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(2 * c), (ushort)weights.GroupIndex[c]);
                else BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4 * c), (uint)weights.GroupIndex[c]);
            }
            sections.Add(new("group_index", bytes));
        }
        if (weights.ReservedIndex.Length > 0)
        {
            var index = new byte[4 * weights.ReservedIndex.Length];
            for (int k = 0; k < weights.ReservedIndex.Length; k++)
                BinaryPrimitives.WriteUInt32LittleEndian(index.AsSpan(4 * k), weights.ReservedIndex[k]);
            sections.Add(new("reserved_index", index));
            sections.Add(new("reserved_value", BitPacking.HalvesToBytes(weights.ReservedValue)));
        }
        var parameters = new Dictionary<string, int> { ["bits"] = bits, ["group_size"] = weights.GroupSize };
        return new LinearPayload(LayoutName, weights.Rows, weights.Cols, parameters, sections);
    }

    /// <summary>Unpacks a <c>uniform</c> payload, checking every size and range.</summary>
    /// <exception cref="InvalidDataException">The payload is malformed.</exception>
    public static UniformWeights Read(LinearPayload payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        if (payload.Layout != LayoutName) throw new InvalidDataException($"layout '{payload.Layout}' is not '{LayoutName}'");
        int rows = payload.Rows, cols = payload.Cols, bits = payload.Parameter("bits"), groupSize = payload.Parameter("group_size");
        if (rows <= 0 || cols <= 0) throw new InvalidDataException($"uniform payload has shape [{rows}, {cols}]");
        if (bits is < MinBits or > MaxBits) throw new InvalidDataException($"uniform payload has bits = {bits}, expected {MinBits}..{MaxBits}");
        if (groupSize < 1 || groupSize > cols) throw new InvalidDataException($"uniform payload has group_size = {groupSize}, expected 1..{cols}");
        int groups = (cols + groupSize - 1) / groupSize;
        long count = (long)rows * cols, slots = (long)rows * groups;

        var codes = BitPacking.UnpackBits(Sized(payload, "codes", (count * bits + 7) / 8), count, bits);
        var scaleBytes = Sized(payload, "scales", 2 * slots);
        var scales = new Half[slots];
        for (long k = 0; k < slots; k++) scales[k] = BinaryPrimitives.ReadHalfLittleEndian(scaleBytes.AsSpan((int)(2 * k)));
        var zeros = BitPacking.UnpackBits(Sized(payload, "zeros", (slots * bits + 7) / 8), slots, bits);

        int[]? groupIndex = null;
        if (payload.Sections.Any(s => s.Name == "group_index"))
        {
            int width = GroupIndexWidth(groups);
            var bytes = Sized(payload, "group_index", (long)cols * width);
            groupIndex = new int[cols];
            for (int c = 0; c < cols; c++)
                groupIndex[c] = width == 2 ? BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(2 * c)) : (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(4 * c));
        }

        uint[] reservedIndex = [];
        Half[] reservedValue = [];
        bool hasIndex = payload.Sections.Any(s => s.Name == "reserved_index"), hasValue = payload.Sections.Any(s => s.Name == "reserved_value");
        if (hasIndex != hasValue) throw new InvalidDataException("uniform payload has only one of 'reserved_index' and 'reserved_value'");
        if (hasIndex)
        {
            var indexBytes = payload.Section("reserved_index");
            if (indexBytes.Length % 4 != 0) throw new InvalidDataException($"section 'reserved_index' has {indexBytes.Length} bytes, not a multiple of 4");
            int reserved = indexBytes.Length / 4;
            var valueBytes = Sized(payload, "reserved_value", 2L * reserved);
            reservedIndex = new uint[reserved];
            reservedValue = new Half[reserved];
            for (int k = 0; k < reserved; k++)
            {
                reservedIndex[k] = BinaryPrimitives.ReadUInt32LittleEndian(indexBytes.AsSpan(4 * k));
                reservedValue[k] = BinaryPrimitives.ReadHalfLittleEndian(valueBytes.AsSpan(2 * k));
            }
        }

        var weights = new UniformWeights(rows, cols, bits, groupSize, codes, scales, zeros, groupIndex, reservedIndex, reservedValue);
        Validate(weights);
        return weights;
    }

    /// <summary>Bytes of a <c>group_index</c> entry for <paramref name="groups"/> groups per row.</summary>
    public static int GroupIndexWidth(int groups) => groups <= 65536 ? 2 : 4;

    private static void Validate(UniformWeights w)
    {
        if (w.Rows <= 0 || w.Cols <= 0) throw new InvalidDataException($"shape [{w.Rows}, {w.Cols}] is not positive");
        if (w.Bits is < MinBits or > MaxBits) throw new InvalidDataException($"bits = {w.Bits}, expected {MinBits}..{MaxBits}");
        if (w.GroupSize < 1 || w.GroupSize > w.Cols) throw new InvalidDataException($"group size {w.GroupSize}, expected 1..{w.Cols}");
        long count = (long)w.Rows * w.Cols, slots = (long)w.Rows * w.GroupsPerRow;
        if (count > uint.MaxValue) throw new InvalidDataException($"a {w.Rows} × {w.Cols} matrix is too large for uint32 reserved indices");
        if (w.Codes.Length != count) throw new InvalidDataException($"{w.Codes.Length} codes for {count} weights");
        if (w.Scales.Length != slots || w.Zeros.Length != slots)
            throw new InvalidDataException($"{w.Scales.Length} scales and {w.Zeros.Length} zeros for {slots} (row, group) slots");
        int maxCode = (1 << w.Bits) - 1;
        if (w.Codes.Any(c => c > maxCode)) throw new InvalidDataException($"a code exceeds {maxCode} ({w.Bits} bits)");
        if (w.Zeros.Any(z => z > maxCode)) throw new InvalidDataException($"a zero point exceeds {maxCode} ({w.Bits} bits)");
        if (w.GroupIndex is not null)
        {
            if (w.GroupIndex.Length != w.Cols) throw new InvalidDataException($"{w.GroupIndex.Length} group indices for {w.Cols} columns");
            if (w.GroupIndex.Any(g => g < 0 || g >= w.GroupsPerRow)) throw new InvalidDataException($"a group index is outside 0..{w.GroupsPerRow - 1}");
        }
        if (w.ReservedIndex.Length != w.ReservedValue.Length)
            throw new InvalidDataException($"{w.ReservedIndex.Length} reserved indices but {w.ReservedValue.Length} reserved values");
        for (int k = 0; k < w.ReservedIndex.Length; k++)
        {
            if (w.ReservedIndex[k] >= count) throw new InvalidDataException($"reserved index {w.ReservedIndex[k]} is outside the {count} weights");
            if (k > 0 && w.ReservedIndex[k] <= w.ReservedIndex[k - 1]) throw new InvalidDataException("reserved indices are not strictly ascending");
        }
    }

    private static byte[] Sized(LinearPayload payload, string name, long expected)
    {
        var bytes = payload.Section(name);
        if (bytes.Length != expected) throw new InvalidDataException($"section '{name}' has {bytes.Length} bytes, expected {expected}");
        return bytes;
    }
}
