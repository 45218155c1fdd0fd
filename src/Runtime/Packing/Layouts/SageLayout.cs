using System.Buffers.Binary;

namespace SagePtq.Runtime.Packing.Layouts;

/*
 * The "sage" layout: one SAGE-PTQ linear, rows = out features, cols = in features.
 * All multi-byte values little-endian; bit streams are LSB-first (bit k of a stream is bit k % 8 of byte k / 8).
 *
 * Parameters (each 4 bytes in the pack):
 *   flags          bit 0 SalientPerWeight (else whole salient columns), bit 1 GroupPerWeight (else one group per
 *                  column), bit 2 RowOffsets (μ per row), bit 3 Rotated (randomized Hadamard input rotation),
 *                  bit 4 TiledSigns (the signs section is row-tiled, see below)
 *   scale_mode     0 α = table[g]; 1 α = row_scales[i] · table[g]; 2 α = table[i·K + g]
 *   groups         K, 1..255
 *   salient_count  salient columns (column mode) or salient weights (per-weight mode)
 *   salient_bits   b, 2..8
 *   rotate_seed_lo, rotate_seed_hi   (only when Rotated) the 64-bit seed of RandomizedHadamard
 *
 * Sections (absent when empty):
 *   signs              rows × ⌈cols/8⌉ bytes, each row starts on a byte, bits in the plane order of SignPlanes
 *                      (256-weight blocks of 32 bytes, weight t at byte t mod 32, bit t / 32); 1 means +, 0 means −.
 *                      Dense over all columns; bits at salient positions are 0 and unused.
 *                      With TiledSigns the same bytes are stored row-tiled (SignPlanes.Tile): tiles of 16 rows, in
 *                      each the 512 bytes of full block b at 512·b with byte 32·j + 16·h + r = byte 16·h + j of the
 *                      block in row r, then the short last block row after row; the last rows mod 16 rows follow
 *                      all tiles untiled. The size is the same.
 *   group_scales       FP16 table, K values (scale modes 0, 1) or rows × K (mode 2)
 *   row_scales         FP16 × rows (mode 1)
 *   row_offsets        FP16 × rows (RowOffsets)
 *   group_ids          K > 1 only. Column groups: one byte per column. Per-weight groups: a stream of
 *                      ⌈log2 K⌉ bits per weight, row-major over all rows × cols (salient positions unused).
 *   salient_columns    column mode: uint16 × salient_count, ascending column indices
 *   salient_row_counts per-weight mode: uint16 × rows, salient weights in each row
 *   salient_indices    per-weight mode: uint16 × salient_count, column of each, rows in order, ascending in a row
 *   salient_codes      stream of b-bit unsigned codes c, one per salient weight (column mode: row-major over
 *                      rows × salient columns; per-weight mode: in salient_indices order); value = s_i·(c − 2^(b−1))
 *   salient_scales     FP16 × rows, s_i
 *
 * Decoding, in float: unsalient w'_ij = μ_i + α_ij · (±1) (μ_i = 0 without offsets; α_ij from the scale mode
 * with g the column's or weight's group; α = (float)row_scale · (float)table in mode 1); salient
 * w'_ij = (float)s_i · (c − 2^(b−1)). When Rotated, each decoded row is then mapped back to the original
 * input space, w = w'·R (RandomizedHadamard.Inverse with the stored seed).
 */

/// <summary>Layout flags of <see cref="SageLayout"/> (the <c>flags</c> parameter).</summary>
[Flags]
public enum SageFlags
{
    /// <summary>Whole salient columns, one group per column, no offsets, no rotation.</summary>
    None = 0,
    /// <summary>Salient weights sit anywhere (per-row column index lists) instead of in whole columns.</summary>
    SalientPerWeight = 1,
    /// <summary>Every weight carries its own group id instead of one per column.</summary>
    GroupPerWeight = 2,
    /// <summary>A per-row offset μ is stored.</summary>
    RowOffsets = 4,
    /// <summary>The input space was rotated by <see cref="RandomizedHadamard"/>.</summary>
    Rotated = 8,
    /// <summary>
    /// The <c>signs</c> section is stored row-tiled (<see cref="SignPlanes.Tile"/>: 16 rows side by side per
    /// byte of a block) instead of row after row. Only the stored order changes: <see cref="SageEncoding.Signs"/>
    /// is plain rows either way, and the section's size is the same.
    /// </summary>
    TiledSigns = 16,
}

/// <summary>
/// A SAGE-PTQ linear in decoded form, everything already at its stored precision: what
/// <see cref="SageLayout.Encode"/> packs and <see cref="SageLayout.Decode"/> reads back.
/// Group ids and salient codes are one byte per entry here; the payload packs them into bits.
/// </summary>
public sealed record SageEncoding(
    int Rows, int Cols, SageFlags Flags, int ScaleMode, int GroupCount, int SalientBits,
    byte[] Signs, Half[] GroupScales, Half[]? RowScales, Half[]? RowOffsets, byte[]? GroupIds,
    ushort[] SalientColumns, ushort[] SalientRowCounts, byte[] SalientCodes, Half[]? SalientScales,
    ulong RotationSeed)
{
    /// <summary>Bytes of one row of the sign plane.</summary>
    public int SignStride => (Cols + 7) / 8;

    /// <summary>Salient weights in the matrix.</summary>
    public long SalientWeights => (Flags & SageFlags.SalientPerWeight) != 0 ? SalientColumns.Length : (long)Rows * SalientColumns.Length;
}

/// <summary>The "sage" layout (file header above): encoder and decoder of SAGE-PTQ linears.</summary>
public sealed class SageLayout : ILinearLayout
{
    /// <summary>The layout name in payloads and the manifest.</summary>
    public const string LayoutName = "sage";

    /// <inheritdoc />
    public string Name => LayoutName;

    /// <summary>Every flag bit this version knows (<see cref="SageFlags"/>); a payload with any other is refused.</summary>
    public const int KnownFlags = (int)(SageFlags.SalientPerWeight | SageFlags.GroupPerWeight | SageFlags.RowOffsets | SageFlags.Rotated | SageFlags.TiledSigns);

    /// <summary>Bits of a per-weight group id for K groups (0 for K = 1).</summary>
    public static int GroupIdBits(int groups) => groups <= 1 ? 0 : 32 - System.Numerics.BitOperations.LeadingZeroCount((uint)(groups - 1));

    /// <summary>
    /// The exact <see cref="LinearPayload.StoredBytes"/> that <see cref="Encode"/> produces for these
    /// choices, so a quantizer can meet a bit budget before building anything.
    /// </summary>
    public static long StoredBytes(int rows, int cols, SageFlags flags, int scaleMode, int groups, long salientCount, int salientBits)
    {
        long bytes = 4L * (5 + ((flags & SageFlags.Rotated) != 0 ? 2 : 0));
        bytes += (long)rows * ((cols + 7) / 8);
        bytes += 2L * groups * (scaleMode == 2 ? rows : 1);
        if (scaleMode == 1) bytes += 2L * rows;
        if ((flags & SageFlags.RowOffsets) != 0) bytes += 2L * rows;
        if (groups > 1)
            bytes += (flags & SageFlags.GroupPerWeight) != 0 ? ((long)rows * cols * GroupIdBits(groups) + 7) / 8 : cols;
        if (salientCount > 0)
        {
            bool perWeight = (flags & SageFlags.SalientPerWeight) != 0;
            long entries = perWeight ? salientCount : rows * salientCount;
            bytes += perWeight ? 2L * rows + 2L * salientCount : 2L * salientCount;
            bytes += (entries * salientBits + 7) / 8;
            bytes += 2L * rows;
        }
        return bytes;
    }

    /// <summary>Packs <paramref name="e"/> into a payload.</summary>
    /// <exception cref="ArgumentException">The encoding's arrays do not match its shape.</exception>
    public static LinearPayload Encode(SageEncoding e)
    {
        ArgumentNullException.ThrowIfNull(e);
        Check(e);
        bool perWeightSalient = (e.Flags & SageFlags.SalientPerWeight) != 0;
        var parameters = new Dictionary<string, int>
        {
            ["flags"] = (int)e.Flags,
            ["scale_mode"] = e.ScaleMode,
            ["groups"] = e.GroupCount,
            ["salient_count"] = e.SalientColumns.Length,
            ["salient_bits"] = e.SalientBits,
        };
        if ((e.Flags & SageFlags.Rotated) != 0)
        {
            parameters["rotate_seed_lo"] = unchecked((int)(uint)e.RotationSeed);
            parameters["rotate_seed_hi"] = unchecked((int)(uint)(e.RotationSeed >> 32));
        }
        var sections = new List<PayloadSection>
        {
            new("signs", ToStoredSigns(e.Signs, e.Rows, e.Cols, (e.Flags & SageFlags.TiledSigns) != 0)),
            new("group_scales", BitPacking.HalvesToBytes(e.GroupScales)),
        };
        if (e.ScaleMode == 1) sections.Add(new("row_scales", BitPacking.HalvesToBytes(e.RowScales!)));
        if ((e.Flags & SageFlags.RowOffsets) != 0) sections.Add(new("row_offsets", BitPacking.HalvesToBytes(e.RowOffsets!)));
        if (e.GroupCount > 1)
            sections.Add(new("group_ids", (e.Flags & SageFlags.GroupPerWeight) != 0
                ? BitPacking.PackBits(e.GroupIds!, GroupIdBits(e.GroupCount)) : e.GroupIds!.ToArray()));
        if (e.SalientColumns.Length > 0)
        {
            if (perWeightSalient)
            {
                sections.Add(new("salient_row_counts", UShortsToBytes(e.SalientRowCounts)));
                sections.Add(new("salient_indices", UShortsToBytes(e.SalientColumns)));
            }
            else sections.Add(new("salient_columns", UShortsToBytes(e.SalientColumns)));
            sections.Add(new("salient_codes", BitPacking.PackBits(e.SalientCodes, e.SalientBits)));
            sections.Add(new("salient_scales", BitPacking.HalvesToBytes(e.SalientScales!)));
        }
        return new LinearPayload(LayoutName, e.Rows, e.Cols, parameters, sections);
    }

    /// <summary>Reads a payload back into its decoded form.</summary>
    /// <exception cref="InvalidDataException">The payload is not a well-formed sage payload.</exception>
    public static SageEncoding Read(LinearPayload payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        if (payload.Layout != LayoutName) throw new InvalidDataException($"layout '{payload.Layout}' is not '{LayoutName}'");
        int rows = payload.Rows, cols = payload.Cols;
        if (rows <= 0 || cols <= 0) throw new InvalidDataException($"sage payload has shape [{rows}, {cols}]");
        var flags = (SageFlags)payload.Parameter("flags");
        if (((int)flags & ~KnownFlags) != 0) throw new InvalidDataException($"sage payload has unknown flags {(int)flags}");
        int mode = payload.Parameter("scale_mode");
        int k = payload.Parameter("groups");
        int count = payload.Parameter("salient_count");
        int bits = payload.Parameter("salient_bits");
        if (mode is < 0 or > 2) throw new InvalidDataException($"sage payload has scale_mode {mode}");
        if (k is < 1 or > 255) throw new InvalidDataException($"sage payload has {k} groups");
        if (bits is < 2 or > 8) throw new InvalidDataException($"sage payload has salient_bits {bits}");
        bool perWeightSalient = (flags & SageFlags.SalientPerWeight) != 0;
        if (count < 0 || (!perWeightSalient && count > cols) || (perWeightSalient && count > (long)rows * cols))
            throw new InvalidDataException($"sage payload has salient_count {count}");
        ulong seed = 0;
        if ((flags & SageFlags.Rotated) != 0)
            seed = (uint)payload.Parameter("rotate_seed_lo") | ((ulong)(uint)payload.Parameter("rotate_seed_hi") << 32);

        int stride = (cols + 7) / 8;
        var signs = Sized(payload, "signs", (long)rows * stride);
        var table = BytesToHalves(Sized(payload, "group_scales", 2L * k * (mode == 2 ? rows : 1)));
        var rowScales = mode == 1 ? BytesToHalves(Sized(payload, "row_scales", 2L * rows)) : null;
        var offsets = (flags & SageFlags.RowOffsets) != 0 ? BytesToHalves(Sized(payload, "row_offsets", 2L * rows)) : null;
        byte[]? groupIds = null;
        if (k > 1)
        {
            if ((flags & SageFlags.GroupPerWeight) != 0)
            {
                int gb = GroupIdBits(k);
                groupIds = BitPacking.UnpackBits(Sized(payload, "group_ids", ((long)rows * cols * gb + 7) / 8), (long)rows * cols, gb);
            }
            else groupIds = Sized(payload, "group_ids", cols).ToArray();
            foreach (byte g in groupIds) if (g >= k) throw new InvalidDataException($"sage payload has group id {g} ≥ {k}");
        }
        ushort[] salient = [], rowCounts = [];
        byte[] codes = [];
        Half[]? salientScales = null;
        if (count > 0)
        {
            long entries;
            if (perWeightSalient)
            {
                rowCounts = BytesToUShorts(Sized(payload, "salient_row_counts", 2L * rows));
                salient = BytesToUShorts(Sized(payload, "salient_indices", 2L * count));
                if (rowCounts.Sum(c => (long)c) != count) throw new InvalidDataException("sage payload: salient_row_counts do not add up to salient_count");
                entries = count;
            }
            else
            {
                salient = BytesToUShorts(Sized(payload, "salient_columns", 2L * count));
                entries = (long)rows * count;
            }
            foreach (ushort c in salient) if (c >= cols) throw new InvalidDataException($"sage payload has salient column {c} ≥ {cols}");
            codes = BitPacking.UnpackBits(Sized(payload, "salient_codes", (entries * bits + 7) / 8), entries, bits);
            salientScales = BytesToHalves(Sized(payload, "salient_scales", 2L * rows));
        }
        var linearSigns = new byte[signs.Length];
        if ((flags & SageFlags.TiledSigns) != 0)
        {
            var planes = new byte[signs.Length];
            SignPlanes.Untile(signs, planes, rows, cols);
            SignPlanes.ToLinear(planes, linearSigns, cols);
        }
        else SignPlanes.ToLinear(signs, linearSigns, cols);
        return new SageEncoding(rows, cols, flags, mode, k, bits, linearSigns, table, rowScales, offsets, groupIds,
            salient, rowCounts, codes, salientScales, seed);
    }

    /// <inheritdoc />
    public void Decode(LinearPayload payload, Span<float> destination) => Decode(Read(payload), destination);

    /// <summary>Writes the dense weights (rows × cols) that <paramref name="e"/> stands for.</summary>
    public static void Decode(SageEncoding e, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(e);
        int rows = e.Rows, cols = e.Cols, k = e.GroupCount, stride = e.SignStride;
        if (destination.Length != (long)rows * cols)
            throw new ArgumentException($"destination holds {destination.Length} values, the linear has {(long)rows * cols}", nameof(destination));
        bool perWeightGroups = (e.Flags & SageFlags.GroupPerWeight) != 0;
        bool perWeightSalient = (e.Flags & SageFlags.SalientPerWeight) != 0;
        int half = 1 << (e.SalientBits - 1);
        var rotationSigns = (e.Flags & SageFlags.Rotated) != 0 ? RandomizedHadamard.Signs(cols, e.RotationSeed) : null;
        long salientCursor = 0;
        for (int i = 0; i < rows; i++)
        {
            var row = destination.Slice(i * cols, cols);
            float mu = e.RowOffsets is null ? 0f : (float)e.RowOffsets[i];
            float rowScale = e.ScaleMode == 1 ? (float)e.RowScales![i] : 1f;
            int tableRow = e.ScaleMode == 2 ? i * k : 0;
            for (int j = 0; j < cols; j++)
            {
                int g = k == 1 ? 0 : e.GroupIds![perWeightGroups ? (long)i * cols + j : j];
                float alpha = e.ScaleMode == 1 ? rowScale * (float)e.GroupScales[g] : (float)e.GroupScales[tableRow + g];
                bool positive = (e.Signs[i * stride + (j >> 3)] & (1 << (j & 7))) != 0;
                row[j] = mu + (positive ? alpha : -alpha);
            }
            if (e.SalientColumns.Length > 0)
            {
                float s = (float)e.SalientScales![i];
                if (perWeightSalient)
                {
                    for (int r = 0; r < e.SalientRowCounts[i]; r++, salientCursor++)
                        row[e.SalientColumns[salientCursor]] = s * (e.SalientCodes[salientCursor] - half);
                }
                else
                {
                    for (int r = 0; r < e.SalientColumns.Length; r++)
                        row[e.SalientColumns[r]] = s * (e.SalientCodes[(long)i * e.SalientColumns.Length + r] - half);
                }
            }
            if (rotationSigns is not null) RandomizedHadamard.Inverse(row, rotationSigns);
        }
    }

    private static void Check(SageEncoding e)
    {
        int stride = e.SignStride;
        bool perWeightSalient = (e.Flags & SageFlags.SalientPerWeight) != 0;
        if (e.Signs.Length != (long)e.Rows * stride) throw new ArgumentException("sage encoding: sign plane size does not match the shape");
        if (e.GroupScales.Length != e.GroupCount * (e.ScaleMode == 2 ? e.Rows : 1)) throw new ArgumentException("sage encoding: group scale table size is wrong");
        if (e.ScaleMode == 1 && e.RowScales?.Length != e.Rows) throw new ArgumentException("sage encoding: row scales missing");
        if ((e.Flags & SageFlags.RowOffsets) != 0 && e.RowOffsets?.Length != e.Rows) throw new ArgumentException("sage encoding: row offsets missing");
        if (e.GroupCount > 1 && e.GroupIds?.Length != ((e.Flags & SageFlags.GroupPerWeight) != 0 ? (long)e.Rows * e.Cols : e.Cols))
            throw new ArgumentException("sage encoding: group ids size is wrong");
        if (e.SalientCodes.Length != e.SalientWeights) throw new ArgumentException("sage encoding: salient code count is wrong");
        if (perWeightSalient && e.SalientColumns.Length > 0 && e.SalientRowCounts.Length != e.Rows) throw new ArgumentException("sage encoding: salient row counts missing");
        if (e.SalientColumns.Length > 0 && e.SalientScales?.Length != e.Rows) throw new ArgumentException("sage encoding: salient scales missing");
        if (e.Cols > 65536 && e.SalientColumns.Length > 0) throw new ArgumentException("sage encoding: uint16 column indices need cols ≤ 65536");
    }

    /// <summary>Plain LSB-first rows to the stored section: plane order, then row-tiled when <paramref name="tiled"/>.</summary>
    private static byte[] ToStoredSigns(byte[] linearSigns, int rows, int cols, bool tiled)
    {
        var planes = new byte[linearSigns.Length];
        SignPlanes.FromLinear(linearSigns, planes, cols);
        if (!tiled) return planes;
        var tiles = new byte[planes.Length];
        SignPlanes.Tile(planes, tiles, rows, cols);
        return tiles;
    }

    private static ReadOnlySpan<byte> Sized(LinearPayload payload, string name, long expected)
    {
        var bytes = payload.Section(name);
        if (bytes.Length != expected)
            throw new InvalidDataException($"sage payload section '{name}' has {bytes.Length} bytes, expected {expected}");
        return bytes;
    }

    private static Half[] BytesToHalves(ReadOnlySpan<byte> bytes)
    {
        var values = new Half[bytes.Length / 2];
        for (int i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadHalfLittleEndian(bytes[(2 * i)..]);
        return values;
    }

    private static byte[] UShortsToBytes(ushort[] values)
    {
        var bytes = new byte[values.Length * 2];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(2 * i), values[i]);
        return bytes;
    }

    private static ushort[] BytesToUShorts(ReadOnlySpan<byte> bytes)
    {
        var values = new ushort[bytes.Length / 2];
        for (int i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadUInt16LittleEndian(bytes[(2 * i)..]);
        return values;
    }
}
