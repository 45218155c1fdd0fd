using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Packing.Layouts;
using SagePtq.Runtime.Tests.Packing;
using SagePtq.Tests;

namespace SagePtq.Runtime.Tests.Cpu;

/// <summary>One random sage linear to test: its shape and which parts of the layout it uses.</summary>
public sealed record SageCase(
    string Name, int Rows, int Cols, int Groups, int ScaleMode, int Salient, int SalientBits,
    bool Offsets = false, bool Rotated = false, bool ZeroSalientRows = false, bool Tiled = false)
{
    public override string ToString() => Name;
}

/// <summary>
/// Random sage encodings in many shapes, written into one pack (xunit class fixture) and opened with
/// <see cref="PackedModel.Open"/>, so the kernels read the same mapped bytes as in production.
/// </summary>
public sealed class SageTestPack : IDisposable
{
    public static IReadOnlyList<SageCase> Cases { get; } =
    [
        new("r1-c32", 1, 32, 1, 0, 0, 4),
        new("r3-c32-all-salient", 3, 32, 2, 1, 32, 5),
        new("r3-c100-offsets", 3, 100, 2, 1, 5, 4, Offsets: true),
        new("r17-c100-rotated", 17, 100, 4, 0, 3, 8, Rotated: true),
        new("r17-c256-rotated", 17, 256, 3, 1, 8, 8, Rotated: true),
        new("r64-c256", 64, 256, 1, 1, 0, 4),
        new("r64-c300-offsets-rotated", 64, 300, 4, 0, 0, 4, Offsets: true, Rotated: true),
        new("r3-c512-rotated", 3, 512, 2, 1, 6, 3, Rotated: true),
        new("r17-c704-zero-salient-rows", 17, 704, 2, 1, 12, 3, ZeroSalientRows: true),
        new("r1-c704-offsets-rotated", 1, 704, 3, 0, 7, 6, Offsets: true, Rotated: true),
        new("r17-c768", 17, 768, 4, 1, 9, 2, Offsets: true),
        new("r3-c1408", 3, 1408, 1, 0, 3, 2),
        new("r64-c1408-all", 64, 1408, 4, 1, 20, 8, Offsets: true, Rotated: true, ZeroSalientRows: true),
        // 4-bit codes of an even count: the in-register nibble path (with a 6-code tail, with none, with 2).
        new("r17-c600-nibbles-tail", 17, 600, 2, 1, 14, 4, ZeroSalientRows: true),
        new("r6-c512-nibbles", 6, 512, 1, 1, 16, 4, Offsets: true, Rotated: true),
        new("r5-c1100-nibbles", 5, 1100, 3, 0, 26, 4),
        // Other widths through the zero-padded expanded path (odd count, count below 8).
        new("r7-c400-padded", 7, 400, 2, 1, 11, 5, ZeroSalientRows: true),
        new("r2-c64-padded-short", 2, 64, 1, 0, 2, 6),
        // Row-tiled sign sections (TiledSigns): whole tiles only, tiles plus remainder rows with a short block,
        // remainder rows only, tiles without a full block, an odd count of 4-bit codes in tiles, and everything at once.
        new("r32-c512-tiled", 32, 512, 2, 1, 4, 4, Tiled: true),
        new("r17-c300-tiled", 17, 300, 3, 0, 5, 5, Tiled: true),
        new("r5-c100-tiled", 5, 100, 1, 1, 0, 4, Tiled: true),
        new("r32-c100-tiled-no-full-block", 32, 100, 2, 1, 3, 4, Tiled: true),
        new("r48-c768-tiled-odd-nibbles", 48, 768, 2, 0, 7, 4, Offsets: true, Tiled: true),
        new("r49-c1408-tiled-all", 49, 1408, 4, 1, 20, 4, Offsets: true, Rotated: true, ZeroSalientRows: true, Tiled: true),
    ];

    private readonly TempDir _directory;

    public SageTestPack()
    {
        _directory = TestAssets.NewTempDir();
        using var writer = PackWriter.Create(_directory.Path, TestPacks.Config, TestPacks.Tokenizer, "sage-kernel-test");
        var encodings = new Dictionary<string, SageEncoding>();
        for (int i = 0; i < Cases.Count; i++)
        {
            var e = Build(Cases[i], seed: 100 + i);
            encodings[Cases[i].Name] = e;
            writer.AddLinear(Cases[i].Name, SageLayout.Encode(e), Stats(e));
        }
        foreach (var (name, e) in Unsupported())
        {
            encodings[name] = e;
            writer.AddLinear(name, SageLayout.Encode(e), Stats(e));
        }
        writer.AddLinear(F16Name, F16Layout.Encode(new float[4 * 8], 4, 8).Payload, F16Layout.Stats);
        writer.Commit();
        Encodings = encodings;
        Pack = PackedModel.Open(_directory.Path);
    }

    /// <summary>A linear in another layout.</summary>
    public const string F16Name = "f16.linear";

    public PackedModel Pack { get; }

    public IReadOnlyDictionary<string, SageEncoding> Encodings { get; }

    /// <summary>Names of linears whose structure the kernel does not handle.</summary>
    public static IReadOnlyList<string> UnsupportedNames { get; } = ["per-weight-salient", "per-weight-groups", "scale-mode-2"];

    public void Dispose()
    {
        Pack.Dispose();
        _directory.Dispose();
    }

    private static LinearStats Stats(SageEncoding e) =>
        new(e.GroupCount, (double)e.SalientColumns.Length / e.Cols, e.SalientWeights, e.SalientBits, 1.1);

    /// <summary>A random encoding for <paramref name="c"/>: signs, FP16 scales, ids, salient codes all drawn from the seed.</summary>
    public static SageEncoding Build(SageCase c, int seed)
    {
        var random = new Random(seed);
        int rows = c.Rows, cols = c.Cols, k = c.Groups, stride = (cols + 7) / 8;
        Half H(double low, double high) => (Half)(low + (high - low) * random.NextDouble());

        var salient = Enumerable.Range(0, cols).OrderBy(_ => random.Next()).Take(c.Salient).Order().Select(j => (ushort)j).ToArray();
        var signs = new byte[rows * stride];
        random.NextBytes(signs);
        var isSalient = new bool[cols];
        foreach (ushort j in salient) isSalient[j] = true;
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                if (isSalient[j]) signs[i * stride + (j >> 3)] &= (byte)~(1 << (j & 7));
        // Bits past the last column of a row are padding: keep them 0 as the encoder's input would.
        for (int i = 0; i < rows; i++)
            for (int j = cols; j < stride * 8; j++) signs[i * stride + (j >> 3)] &= (byte)~(1 << (j & 7));

        var table = Enumerable.Range(0, k).Select(_ => c.ScaleMode == 1 ? H(0.5, 1.5) : H(0.005, 0.05)).ToArray();
        var rowScales = c.ScaleMode == 1 ? Enumerable.Range(0, rows).Select(_ => H(0.005, 0.05)).ToArray() : null;
        var offsets = c.Offsets ? Enumerable.Range(0, rows).Select(_ => H(-0.01, 0.01)).ToArray() : null;
        var groupIds = k > 1 ? Enumerable.Range(0, cols).Select(_ => (byte)random.Next(k)).ToArray() : null;

        int levels = 1 << c.SalientBits, half = levels / 2;
        var codes = new byte[rows * salient.Length];
        for (int i = 0; i < rows; i++)
            for (int r = 0; r < salient.Length; r++)
            {
                // Zero-salient rows: every third row all codes 0 (the most negative value), the next all at
                // the midpoint (value 0), to exercise both ends.
                codes[i * salient.Length + r] = !c.ZeroSalientRows || i % 3 == 2 ? (byte)random.Next(levels)
                    : i % 3 == 0 ? (byte)0 : (byte)half;
            }
        var salientScales = salient.Length > 0 ? Enumerable.Range(0, rows).Select(_ => H(0.02, 0.1)).ToArray() : null;
        ulong seedValue = c.Rotated ? (ulong)random.NextInt64() : 0;
        var flags = (c.Offsets ? SageFlags.RowOffsets : 0) | (c.Rotated ? SageFlags.Rotated : 0) | (c.Tiled ? SageFlags.TiledSigns : 0);
        return new SageEncoding(rows, cols, flags, c.ScaleMode, k, c.SalientBits, signs, table, rowScales, offsets, groupIds,
            salient, [], codes, salientScales, seedValue);
    }

    /// <summary>Encodings whose structure the kernel refuses: per-weight salient, per-weight groups, scale mode 2.</summary>
    private static IEnumerable<(string, SageEncoding)> Unsupported()
    {
        const int rows = 4, cols = 64, stride = cols / 8;
        var signs = new byte[rows * stride];
        Half[] Table(int n) => Enumerable.Repeat((Half)0.25f, n).ToArray();
        yield return (UnsupportedNames[0], new SageEncoding(rows, cols, SageFlags.SalientPerWeight, 0, 1, 4, signs, Table(1), null, null, null,
            [3, 9, 5], [2, 0, 1, 0], [1, 2, 3], Table(rows), 0));
        yield return (UnsupportedNames[1], new SageEncoding(rows, cols, SageFlags.GroupPerWeight, 0, 2, 4, signs, Table(2), null, null,
            new byte[rows * cols], [], [], [], null, 0));
        yield return (UnsupportedNames[2], new SageEncoding(rows, cols, SageFlags.None, 2, 2, 4, signs, Table(rows * 2), null, null,
            new byte[cols], [], [], [], null, 0));
    }
}
