using System.Buffers.Binary;
using System.Globalization;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using SagePtq.Quantizer.Methods;
using SagePtq.Quantizer.Methods.Sage;
using SagePtq.Quantizer.Pipeline;
using SagePtq.Runtime.Checkpoints;
using SagePtq.Runtime.Generation;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Packing.Layouts;

namespace SagePtq.Quantizer.Synthetic;

/// <summary>
/// Writes a pack of a given shape filled with seeded random weights, for runtime benchmarks at sizes no
/// checkpoint on hand has (LLaMA-2-7B). Every decoder linear uses the <c>sage</c> layout exactly as the
/// sage quantizer writes it by default: whole salient columns at 4 bits, column groups (K = 4, one group
/// id byte per column), scale mode 1 (row scale × group scale), no offsets, salient columns
/// as many as the storage-bit budget allows (default <see cref="SageOptions.Bits"/>, at most
/// <see cref="SageOptions.MaxSalientRatio"/> of the columns). Norms, embedding and LM head are FP16 float tensors, or uniform 8/4-bit like
/// <c>quantize --embeddings</c>. The manifest's method is <see cref="MethodName"/> so that the pack is
/// never taken for a quantized model. No rotation unless asked for: the quantizer rotates by default only
/// when it has calibration data (a Hadamard transform of the activation before each linear, which the
/// runtime then pays for; docs/sage-choices.md). Same shape, seed and options: byte-identical pack.
/// </summary>
public static class SyntheticPack
{
    /// <summary>The manifest's method name.</summary>
    public const string MethodName = "synthetic";

    /// <summary>Groups per linear (the sage quantizer's default maximum).</summary>
    public const int Groups = 4;

    /// <summary>Bits of a salient code (the sage quantizer's default).</summary>
    public const int SalientBits = 4;

    /// <summary>Most salient columns, as a fraction of the columns (the sage quantizer's default cap).</summary>
    public static double MaxSalientRatio { get; } = new SageOptions().MaxSalientRatio;

    /// <summary>Mean |w| of the binary part and the standard deviation of the float tensors: LLaMA-2-7B magnitudes.</summary>
    private const float WeightScale = 0.015f, FloatStd = 0.02f;

    /// <summary>Writes the pack into <paramref name="directory"/>; <paramref name="layerDone"/> is told the number of finished layers.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="bits"/> is not in (1, 16].</exception>
    /// <param name="rotate">Mark every sage linear rotated (<see cref="SageFlags.Rotated"/>, a seed of its own), as a calibrated quantize writes them.</param>
    public static PackManifest Write(string directory, SyntheticShape shape, ulong seed, double bits, EmbeddingQuantization embeddings,
        bool rotate = false, Action<int>? layerDone = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(embeddings);
        if (!(bits > 1 && bits <= 16)) throw new ArgumentOutOfRangeException(nameof(bits), bits, "the storage-bit budget must be in (1, 16]");
        var config = shape.ToConfig();
        var options = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["weights"] = "random (not a quantized model)",
            ["layout"] = SageLayout.LayoutName,
            ["shape"] = shape.Name,
            ["seed"] = seed.ToString(CultureInfo.InvariantCulture),
            ["bits"] = bits.ToString(CultureInfo.InvariantCulture),
            ["embeddings"] = embeddings.Name,
        };
        if (rotate) options["rotate"] = "true";
        using var writer = PackWriter.Create(directory, config, SyntheticTokenizer.Create(config.VocabSize), MethodName, options);
        long[] vocabShape = [config.VocabSize, config.HiddenSize];
        AddVocabTensor(writer, LlamaTensors.Embedding, vocabShape, seed, embeddings);
        for (int layer = 0; layer < config.NumLayers; layer++)
        {
            cancellation.ThrowIfCancellationRequested();
            foreach (var norm in new[] { "input_layernorm", "post_attention_layernorm" })
            {
                string name = LlamaTensors.Layer(layer, norm);
                writer.AddTensor(name, Norm(config.HiddenSize, LinearSeeds.For(seed, name)), [config.HiddenSize]);
            }
            var names = LlamaTensors.LayerLinears.Select(part => LlamaTensors.Layer(layer, part)).ToArray();
            var shapes = LlamaTensors.LayerLinears.Select(part => LlamaTensors.LayerShape(config, part)).ToArray();
            var linears = new (LinearPayload Payload, LinearStats Stats)[names.Length];
            Parallel.For(0, names.Length, new ParallelOptions { CancellationToken = cancellation },
                k => linears[k] = SageLinear((int)shapes[k][0], (int)shapes[k][1], LinearSeeds.For(seed, names[k]), bits, rotate));
            for (int k = 0; k < names.Length; k++) writer.AddLinear(names[k], linears[k].Payload, linears[k].Stats);
            layerDone?.Invoke(layer + 1);
        }
        writer.AddTensor(LlamaTensors.FinalNorm, Norm(config.HiddenSize, LinearSeeds.For(seed, LlamaTensors.FinalNorm)), [config.HiddenSize]);
        AddVocabTensor(writer, LlamaTensors.LmHead, vocabShape, seed, embeddings);
        return writer.Commit(cancellation);
    }

    /// <summary>The most whole salient columns a [rows, cols] sage linear can hold within <paramref name="bits"/> storage bits per weight (at least 1).</summary>
    public static int SalientColumns(int rows, int cols, double bits)
    {
        long budget = (long)Math.Floor(bits * rows * cols / 8);
        int count = (int)Math.Floor(MaxSalientRatio * cols);
        while (count > 1 && SageLayout.StoredBytes(rows, cols, SageFlags.None, 1, Groups, count, SalientBits) > budget) count--;
        return Math.Max(1, count);
    }

    /// <summary>
    /// One random sage payload, section by section as <see cref="SageLayout.Encode"/> writes them. The sign
    /// planes are random bytes (random bits are random in any order) with the bits of salient columns and
    /// row padding cleared, as the encoder leaves them, and stored row-tiled (<see cref="SageFlags.TiledSigns"/>).
    /// </summary>
    public static (LinearPayload Payload, LinearStats Stats) SageLinear(int rows, int cols, ulong seed, double bits, bool rotate = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(cols, 1);
        if (cols > ushort.MaxValue + 1) throw new ArgumentOutOfRangeException(nameof(cols), cols, "salient column indices are uint16");
        var random = new SplitMix64(seed);
        int salientCount = SalientColumns(rows, cols, bits);
        var salient = SampleAscending(ref random, cols, salientCount);

        int stride = SignPlanes.RowBytes(cols);
        var signs = new byte[(long)rows * stride];
        Fill(ref random, signs);
        // Which plane bits stand for a non-salient column: ones for every column, then the salient ones cleared.
        var linearMask = new byte[stride];
        for (int j = 0; j < cols; j++) linearMask[j >> 3] |= (byte)(1 << (j & 7));
        foreach (ushort c in salient) linearMask[c >> 3] &= (byte)~(1 << (c & 7));
        var planeMask = new byte[stride];
        SignPlanes.FromLinear(linearMask, planeMask, cols);
        for (int r = 0; r < rows; r++)
        {
            var row = signs.AsSpan(r * stride, stride);
            TensorPrimitives.BitwiseAnd(row, planeMask, row);
        }
        // Stored row-tiled, as the quantizer writes sage linears (same bytes, reordered).
        var tiledSigns = new byte[signs.Length];
        SignPlanes.Tile(signs, tiledSigns, rows, cols);

        double[] levels = [0.6, 0.9, 1.2, 1.6];
        var groupScales = levels.Select(l => (Half)(l * (0.95 + 0.1 * random.NextDouble()))).ToArray();
        var rowScales = Halves(ref random, rows, WeightScale);
        var groupIds = new byte[cols];
        for (int j = 0; j < cols; j++) groupIds[j] = (byte)(random.NextUInt64() % Groups);
        long entries = (long)rows * salientCount;
        var codes = new byte[(entries * SalientBits + 7) / 8];
        Fill(ref random, codes);
        if (entries % 2 == 1) codes[^1] &= 0x0F;   // the stream is padded with zero bits
        // Salient values s·(c − 8) reach 8× the binary part's magnitude, as outlier columns do.
        var salientScales = Halves(ref random, rows, WeightScale);

        var parameters = new Dictionary<string, int>
        {
            ["flags"] = (int)(SageFlags.TiledSigns | (rotate ? SageFlags.Rotated : 0)),
            ["scale_mode"] = 1,
            ["groups"] = Groups,
            ["salient_count"] = salientCount,
            ["salient_bits"] = SalientBits,
        };
        if (rotate)
        {
            ulong rotationSeed = random.NextUInt64();   // drawn last, so the other sections do not change with the option
            parameters["rotate_seed_lo"] = unchecked((int)(uint)rotationSeed);
            parameters["rotate_seed_hi"] = unchecked((int)(uint)(rotationSeed >> 32));
        }
        var columnBytes = new byte[2 * salientCount];
        for (int k = 0; k < salientCount; k++) BinaryPrimitives.WriteUInt16LittleEndian(columnBytes.AsSpan(2 * k), salient[k]);
        var sections = new List<PayloadSection>
        {
            new("signs", tiledSigns),
            new("group_scales", HalfBytes(groupScales)),
            new("row_scales", HalfBytes(rowScales)),
            new("group_ids", groupIds),
            new("salient_columns", columnBytes),
            new("salient_codes", codes),
            new("salient_scales", HalfBytes(salientScales)),
        };
        long weights = (long)rows * cols;
        double ratio = (double)entries / weights;
        double paperBits = 1 + ratio * (SalientBits - 1) + 16.0 * (Groups + rows + rows) / weights;
        return (new LinearPayload(SageLayout.LayoutName, rows, cols, parameters, sections),
            new LinearStats(Groups, ratio, entries, SalientBits, paperBits));
    }

    private static void AddVocabTensor(PackWriter writer, string name, long[] shape, ulong seed, EmbeddingQuantization embeddings)
    {
        int rows = (int)shape[0], cols = (int)shape[1];
        ulong tensorSeed = LinearSeeds.For(seed, name);
        var data = UniformFloats((long)rows * cols, tensorSeed, FloatStd);
        if (embeddings.Bits is null)
        {
            writer.AddTensor(name, data, shape);
            return;
        }
        var quantized = embeddings.Quantize(new LinearTarget(name, rows, cols, data, null, tensorSeed));
        writer.AddLinear(name, quantized.Payload, quantized.Stats);
    }

    /// <summary>RMSNorm weights around 1.</summary>
    private static float[] Norm(int size, ulong seed)
    {
        var random = new SplitMix64(seed);
        var values = new float[size];
        for (int i = 0; i < size; i++) values[i] = (float)(0.9 + 0.2 * random.NextDouble());
        return values;
    }

    /// <summary>Uniform values of standard deviation <paramref name="std"/>, drawn in parallel chunks with their own seeds (same result on any core count).</summary>
    private static float[] UniformFloats(long count, ulong seed, float std)
    {
        const int Chunk = 1 << 20;
        var values = new float[count];
        float half = std * MathF.Sqrt(3);
        int chunks = (int)((count + Chunk - 1) / Chunk);
        Parallel.For(0, chunks, chunk =>
        {
            var random = new SplitMix64(seed ^ ((ulong)(chunk + 1) * 0xD1B54A32D192ED03UL));
            var span = values.AsSpan(chunk * Chunk, (int)Math.Min(Chunk, count - (long)chunk * Chunk));
            for (int i = 0; i < span.Length; i++) span[i] = ((random.NextUInt64() >> 40) * (1f / (1 << 24)) * 2 - 1) * half;
        });
        return values;
    }

    private static void Fill(ref SplitMix64 random, Span<byte> bytes)
    {
        var words = MemoryMarshal.Cast<byte, ulong>(bytes);
        for (int i = 0; i < words.Length; i++) words[i] = random.NextUInt64();
        for (int i = words.Length * 8; i < bytes.Length; i++) bytes[i] = (byte)random.NextUInt64();
    }

    private static Half[] Halves(ref SplitMix64 random, int count, float scale)
    {
        var values = new Half[count];
        for (int i = 0; i < count; i++) values[i] = (Half)(scale * (0.75 + 0.5 * random.NextDouble()));
        return values;
    }

    private static byte[] HalfBytes(Half[] values)
    {
        var bytes = new byte[2 * values.Length];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(2 * i), values[i]);
        return bytes;
    }

    /// <summary><paramref name="count"/> distinct values of [0, n), ascending (partial Fisher–Yates).</summary>
    private static ushort[] SampleAscending(ref SplitMix64 random, int n, int count)
    {
        var pool = new int[n];
        for (int i = 0; i < n; i++) pool[i] = i;
        for (int i = 0; i < count; i++)
        {
            int j = i + (int)(random.NextUInt64() % (ulong)(n - i));
            (pool[i], pool[j]) = (pool[j], pool[i]);
        }
        var chosen = pool.AsSpan(0, count).ToArray();
        Array.Sort(chosen);
        return chosen.Select(c => (ushort)c).ToArray();
    }
}
