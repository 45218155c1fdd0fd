using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Packing.Layouts;
using SagePtq.Runtime.Tests.Packing;
using SagePtq.Tests;

namespace SagePtq.Runtime.Tests.Cpu;

/// <summary>
/// A small pack of seeded linears and float tensors for the CPU kernel tests, written with
/// <see cref="PackWriter"/> and opened with <see cref="PackedModel.Open"/>; the dense FP32 weights of
/// each entry are kept as the oracle.
/// </summary>
internal sealed class CpuTestPack : IDisposable
{
    private readonly TempDir _dir;

    private CpuTestPack(TempDir dir, PackedModel pack, Dictionary<string, float[]> dense)
    {
        _dir = dir;
        Pack = pack;
        Dense = dense;
    }

    public PackedModel Pack { get; }

    /// <summary>Name → dense row-major weights (what the layout decodes to).</summary>
    public IReadOnlyDictionary<string, float[]> Dense { get; }

    /// <summary>Writes <paramref name="linears"/> and <paramref name="tensors"/> (stored as <paramref name="floatType"/>) and opens the pack.</summary>
    public static CpuTestPack Write(
        IReadOnlyDictionary<string, LinearPayload> linears,
        IReadOnlyDictionary<string, (float[] Data, long[] Shape)>? tensors = null,
        PackDataType floatType = PackDataType.Float16)
    {
        var dir = TestAssets.NewTempDir();
        var dense = new Dictionary<string, float[]>();
        using (var writer = PackWriter.Create(dir.Path, TestPacks.Config, TestPacks.Tokenizer, "cpu-test", floatTensorType: floatType))
        {
            foreach (var (name, payload) in linears)
            {
                writer.AddLinear(name, payload, new LinearStats(1, 0, 0, 0, 16));
                dense[name] = LinearLayouts.Decode(payload);
            }
            foreach (var (name, (data, shape)) in tensors ?? new Dictionary<string, (float[], long[])>())
            {
                writer.AddTensor(name, data, shape);
                // What the pack holds: the values rounded to the stored float type.
                dense[name] = floatType == PackDataType.Float16 ? data.Select(v => (float)(Half)v).ToArray() : (float[])data.Clone();
            }
            writer.Commit();
        }
        return new CpuTestPack(dir, PackedModel.Open(dir.Path), dense);
    }

    /// <summary>
    /// Random uniform weights: codes, FP16 scales in ±[0.01, 0.1], zero points anywhere in the code range,
    /// and <paramref name="reserved"/> reserved weights whose code is set to their zero point (as SEPTQ writes them).
    /// </summary>
    public static UniformWeights RandomUniform(int rows, int cols, int bits, int groupSize, int reserved, int seed, bool actOrder = false)
    {
        var random = new Random(seed);
        int groups = (cols + groupSize - 1) / groupSize, max = (1 << bits) - 1;
        var codes = new byte[rows * cols];
        for (int i = 0; i < codes.Length; i++) codes[i] = (byte)random.Next(max + 1);
        var scales = new Half[rows * groups];
        for (int i = 0; i < scales.Length; i++) scales[i] = (Half)((random.Next(2) * 2 - 1) * (0.01 + 0.09 * random.NextDouble()));
        var zeros = new byte[rows * groups];
        for (int i = 0; i < zeros.Length; i++) zeros[i] = (byte)random.Next(max + 1);
        int[]? groupIndex = actOrder ? Enumerable.Range(0, cols).Select(c => (c * 7 + 3) % groups).ToArray() : null;
        var index = Enumerable.Range(0, rows * cols).OrderBy(_ => random.Next()).Take(reserved).Order().Select(i => (uint)i).ToArray();
        var values = new Half[index.Length];
        for (int k = 0; k < index.Length; k++)
        {
            int flat = (int)index[k], r = flat / cols, c = flat % cols;
            int group = groupIndex?[c] ?? c / groupSize;
            codes[flat] = zeros[r * groups + group];
            values[k] = (Half)(random.NextDouble() * 4 - 2);
        }
        return new UniformWeights(rows, cols, bits, groupSize, codes, scales, zeros, groupIndex, index, values);
    }

    /// <summary>Seeded inputs in [−1, 1] with one large outlier channel per token (as LLaMA activations have).</summary>
    public static float[] RandomInput(int tokens, int cols, int seed)
    {
        var random = new Random(seed);
        var x = new float[tokens * cols];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(random.NextDouble() * 2 - 1);
        for (int t = 0; t < tokens; t++) x[t * cols + random.Next(cols)] = 20f * (t + 1);
        return x;
    }

    /// <summary>Dense W·x in double: the oracle.</summary>
    public static double[] DenseProduct(float[] weights, int rows, int cols, float[] input, int tokens)
    {
        var y = new double[tokens * rows];
        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < rows; r++)
            {
                double sum = 0;
                for (int c = 0; c < cols; c++) sum += (double)weights[r * cols + c] * input[t * cols + c];
                y[t * rows + r] = sum;
            }
        return y;
    }

    /// <summary>Σ|w·x| per output: the scale of float rounding error in a dot product.</summary>
    public static double[] AbsoluteProduct(float[] weights, int rows, int cols, float[] input, int tokens)
    {
        var y = new double[tokens * rows];
        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < rows; r++)
            {
                double sum = 0;
                for (int c = 0; c < cols; c++) sum += Math.Abs((double)weights[r * cols + c] * input[t * cols + c]);
                y[t * rows + r] = sum;
            }
        return y;
    }

    public void Dispose()
    {
        Pack.Dispose();
        _dir.Dispose();
    }
}
