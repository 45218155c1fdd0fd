using System.Buffers.Binary;

namespace SagePtq.Runtime.Packing.Layouts;

/// <summary>
/// What a PB-LLM-quantized linear is, weight by weight, before packing: salient weights (any position)
/// kept as 8-bit codes on a per-row asymmetric grid, value = scale · (code − zero); every other weight
/// binarized per row, value = μ ± α.
/// </summary>
/// <param name="Salient">Per weight (row-major): true where the weight is kept at 8 bits.</param>
/// <param name="Positive">Per weight: the sign of a binarized weight (true = +1); read only where not salient.</param>
/// <param name="Codes">Per weight: the 8-bit code of a salient weight; read only where salient.</param>
/// <param name="BinaryAlpha">Per row: the binarized weights' scale α.</param>
/// <param name="BinaryMean">Per row: the binarized weights' shift μ.</param>
/// <param name="HighScale">Per row: the step of the 8-bit grid.</param>
/// <param name="HighZero">Per row: the code of zero on the 8-bit grid.</param>
public sealed record PbllmCodes(
    int Rows, int Cols, bool[] Salient, bool[] Positive, byte[] Codes,
    Half[] BinaryAlpha, Half[] BinaryMean, Half[] HighScale, byte[] HighZero);

/// <summary>
/// The "pbllm" layout: a partially binarized linear (PB-LLM, Shang et al., ICLR 2024), every bit stored
/// (DESIGN.md §3).
/// <list type="bullet">
/// <item>parameter <c>high_bits</c>: 8, the salient weights' width.</item>
/// <item><c>salient_mask</c>: one bit per weight, row-major, set where the weight is salient.</item>
/// <item><c>signs</c>: one bit per binarized weight, in row-major order of the binarized positions (set = +1).</item>
/// <item><c>codes</c>: one byte per salient weight, in row-major order of the salient positions.</item>
/// <item><c>binary_scales</c>: per row α then μ, FP16 little-endian.</item>
/// <item><c>high_scales</c>: per row the 8-bit grid's step, FP16; <c>high_zeros</c>: per row its zero code, one byte.</item>
/// </list>
/// Bits are packed LSB-first, each section a continuous stream. Per weight: 1 (mask) + (1 − r) + 8r bits +
/// 56 / cols bits of row parameters, where r is the salient fraction: 2.81 at r = 10 %, 512 columns.
/// </summary>
public sealed class PbllmLayout : ILinearLayout
{
    /// <summary>The layout's name in the pack.</summary>
    public const string LayoutName = "pbllm";

    /// <summary>Bits of a salient weight.</summary>
    public const int HighBits = 8;

    /// <inheritdoc />
    public string Name => LayoutName;

    /// <summary>
    /// The paper's count (PB-LLM eq. 3): N = 1·r_binary + N_salient·(1 − r_binary) + 1, with the +1 for the
    /// salient bitmap: 2.7 bits at 10 % salient weights. (BiLLM and ARB-LLM quote PB-LLM as "1.70", the same
    /// formula without the bitmap bit; per-row parameters are left out either way.)
    /// </summary>
    public static double PaperBitsPerWeight(double salientFraction) => (1 - salientFraction) + HighBits * salientFraction + 1;

    /// <summary>A binarized weight: μ ± α.</summary>
    public static float BinaryValue(Half alpha, Half mean, bool positive)
    {
        float a = (float)alpha;
        return (float)mean + (positive ? a : -a);
    }

    /// <summary>A salient weight: scale · (code − zero).</summary>
    public static float HighValue(Half scale, byte zero, byte code) => (float)scale * (code - zero);

    /// <summary>Packs <paramref name="codes"/> into a payload.</summary>
    /// <exception cref="ArgumentException">An array of <paramref name="codes"/> has the wrong length.</exception>
    public static LinearPayload Encode(PbllmCodes codes)
    {
        ArgumentNullException.ThrowIfNull(codes);
        int rows = codes.Rows, cols = codes.Cols;
        if (rows <= 0 || cols <= 0) throw new ArgumentException($"pbllm: bad shape {rows} × {cols}", nameof(codes));
        long weights = (long)rows * cols;
        Expect(codes.Salient.Length, weights, "Salient");
        Expect(codes.Positive.Length, weights, "Positive");
        Expect(codes.Codes.Length, weights, "Codes");
        Expect(codes.BinaryAlpha.Length, rows, "BinaryAlpha");
        Expect(codes.BinaryMean.Length, rows, "BinaryMean");
        Expect(codes.HighScale.Length, rows, "HighScale");
        Expect(codes.HighZero.Length, rows, "HighZero");

        long salientCount = codes.Salient.LongCount(s => s);
        var mask = new BitWriter(weights);
        var signs = new BitWriter(weights - salientCount);
        var highCodes = new byte[salientCount];
        long next = 0;
        for (long i = 0; i < weights; i++)
        {
            mask.Add(codes.Salient[i]);
            if (codes.Salient[i]) highCodes[next++] = codes.Codes[i];
            else signs.Add(codes.Positive[i]);
        }
        var binaryScales = new byte[rows * 4];
        var highScales = new byte[rows * 2];
        for (int r = 0; r < rows; r++)
        {
            BinaryPrimitives.WriteHalfLittleEndian(binaryScales.AsSpan(4 * r), codes.BinaryAlpha[r]);
            BinaryPrimitives.WriteHalfLittleEndian(binaryScales.AsSpan(4 * r + 2), codes.BinaryMean[r]);
            BinaryPrimitives.WriteHalfLittleEndian(highScales.AsSpan(2 * r), codes.HighScale[r]);
        }
        return new LinearPayload(LayoutName, rows, cols,
            new Dictionary<string, int> { ["high_bits"] = HighBits },
            [
                new PayloadSection("salient_mask", mask.Bytes),
                new PayloadSection("signs", signs.Bytes),
                new PayloadSection("codes", highCodes),
                new PayloadSection("binary_scales", binaryScales),
                new PayloadSection("high_scales", highScales),
                new PayloadSection("high_zeros", (byte[])codes.HighZero.Clone()),
            ]);
    }

    /// <summary>Unpacks a "pbllm" payload back into its codes.</summary>
    /// <exception cref="InvalidDataException">The payload is not a well-formed "pbllm" payload.</exception>
    public static PbllmCodes Read(LinearPayload payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        if (payload.Layout != LayoutName) throw new InvalidDataException($"pbllm: payload has layout '{payload.Layout}'");
        int rows = payload.Rows, cols = payload.Cols;
        if (rows <= 0 || cols <= 0) throw new InvalidDataException($"pbllm: bad shape {rows} × {cols}");
        int highBits = payload.Parameter("high_bits");
        if (highBits != HighBits) throw new InvalidDataException($"pbllm: high_bits is {highBits}, only {HighBits} is defined");
        long weights = (long)rows * cols;

        var maskReader = new BitReader(payload.Section("salient_mask"), weights, "pbllm", "salient_mask");
        var salient = new bool[weights];
        long salientCount = 0;
        for (long i = 0; i < weights; i++) if (salient[i] = maskReader.Next()) salientCount++;
        var signReader = new BitReader(payload.Section("signs"), weights - salientCount, "pbllm", "signs");
        var highCodes = payload.Section("codes");
        if (highCodes.Length != salientCount)
            throw new InvalidDataException($"pbllm: section 'codes' has {highCodes.Length} bytes, the mask marks {salientCount} salient weights");
        var binaryScales = SectionOfSize(payload, "binary_scales", rows * 4L);
        var highScales = SectionOfSize(payload, "high_scales", rows * 2L);
        var highZero = SectionOfSize(payload, "high_zeros", rows);

        var positive = new bool[weights];
        var codes = new byte[weights];
        long next = 0;
        for (long i = 0; i < weights; i++)
        {
            if (salient[i]) codes[i] = highCodes[next++];
            else positive[i] = signReader.Next();
        }
        var alpha = new Half[rows];
        var mean = new Half[rows];
        var scale = new Half[rows];
        for (int r = 0; r < rows; r++)
        {
            alpha[r] = BinaryPrimitives.ReadHalfLittleEndian(binaryScales.AsSpan(4 * r));
            mean[r] = BinaryPrimitives.ReadHalfLittleEndian(binaryScales.AsSpan(4 * r + 2));
            scale[r] = BinaryPrimitives.ReadHalfLittleEndian(highScales.AsSpan(2 * r));
        }
        return new PbllmCodes(rows, cols, salient, positive, codes, alpha, mean, scale, (byte[])highZero.Clone());
    }

    /// <inheritdoc />
    public void Decode(LinearPayload payload, Span<float> destination) => Dequantize(Read(payload), destination);

    /// <summary>The dense weights <paramref name="codes"/> stand for, rows × cols row-major.</summary>
    public static void Dequantize(PbllmCodes codes, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(codes);
        int rows = codes.Rows, cols = codes.Cols;
        if (destination.Length != (long)rows * cols)
            throw new ArgumentException($"pbllm: destination has {destination.Length} values, expected {(long)rows * cols}", nameof(destination));
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
            {
                int i = r * cols + c;
                destination[i] = codes.Salient[i]
                    ? HighValue(codes.HighScale[r], codes.HighZero[r], codes.Codes[i])
                    : BinaryValue(codes.BinaryAlpha[r], codes.BinaryMean[r], codes.Positive[i]);
            }
        }
    }

    private static byte[] SectionOfSize(LinearPayload payload, string name, long bytes)
    {
        var section = payload.Section(name);
        if (section.Length != bytes) throw new InvalidDataException($"pbllm: section '{name}' has {section.Length} bytes, expected {bytes}");
        return section;
    }

    private static void Expect(long actual, long expected, string what)
    {
        if (actual != expected) throw new ArgumentException($"pbllm: {what} has {actual} entries, expected {expected}");
    }
}
