using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace SagePtq.Runtime.Packing.Layouts;

/// <summary>
/// The unquantized layout: one section <c>weight</c> holding the rows × cols weights as IEEE binary16,
/// little-endian, row-major; no parameters. It is the 16-bit reference point of the bit accounting
/// and lets the whole pack path be checked exactly against an FP16 checkpoint.
/// </summary>
public sealed class F16Layout : ILinearLayout
{
    public const string LayoutName = "f16";
    public const string WeightSection = "weight";

    /// <summary>The statistics of an f16 linear: no groups, no salient weights, 16 paper bits.</summary>
    public static LinearStats Stats { get; } = new(1, 0, 0, 0, 16);

    public string Name => LayoutName;

    /// <summary>Rounds <paramref name="weight"/> (rows × cols, row-major) to FP16 (to nearest, ties to even).</summary>
    /// <returns>The payload, and the exact floats it decodes to.</returns>
    /// <exception cref="ArgumentException">The array length is not rows × cols.</exception>
    public static (LinearPayload Payload, float[] Dequantized) Encode(float[] weight, int rows, int cols)
    {
        ArgumentNullException.ThrowIfNull(weight);
        if (rows <= 0 || cols <= 0 || (long)rows * cols != weight.Length)
            throw new ArgumentException($"weight has {weight.Length} elements, not rows {rows} × cols {cols}", nameof(weight));
        var halves = new Half[weight.Length];
        TensorPrimitives.ConvertToHalf(weight, halves);
        var dequantized = new float[weight.Length];
        TensorPrimitives.ConvertToSingle(halves, dequantized);
        byte[] bytes = MemoryMarshal.AsBytes(halves.AsSpan()).ToArray();
        var payload = new LinearPayload(LayoutName, rows, cols, new Dictionary<string, int>(), [new PayloadSection(WeightSection, bytes)]);
        return (payload, dequantized);
    }

    public void Decode(LinearPayload payload, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(payload);
        if (payload.Layout != LayoutName)
            throw new InvalidDataException($"layout '{LayoutName}' cannot decode a '{payload.Layout}' payload");
        long count = (long)payload.Rows * payload.Cols;
        byte[] bytes = payload.Section(WeightSection);
        if (bytes.Length != count * 2)
            throw new InvalidDataException($"layout '{LayoutName}' section '{WeightSection}' has {bytes.Length} bytes, [{payload.Rows}, {payload.Cols}] needs {count * 2}");
        if (destination.Length != count)
            throw new ArgumentException($"destination has {destination.Length} elements, the payload {count}", nameof(destination));
        TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(bytes), destination);
    }
}
