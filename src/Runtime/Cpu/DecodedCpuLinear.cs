using System.Numerics.Tensors;
using SagePtq.Runtime.Packing;

namespace SagePtq.Runtime.Cpu;

/// <summary>
/// The fallback for a linear no fast kernel reads (billm, pbllm, per-weight sage, uniform with
/// act-order or odd group sizes...): the payload is decoded once through <see cref="LinearLayouts.Decode"/>
/// and kept in native memory as FP16 (or FP32), and products run the <see cref="HalfCpuLinear"/> kernel
/// over that copy.
/// <para>
/// It is correct for every layout but NOT memory-speed: it holds a decoded copy of 16 (or 32) bits per
/// weight instead of reading the pack's compressed bytes, so a model served this way needs the memory
/// and bandwidth of an FP16 model. FP16 storage rounds each decoded weight to 11 significant bits
/// (relative error ≤ 2⁻¹¹); keep FP32 where that matters.
/// </para>
/// </summary>
public sealed unsafe class DecodedCpuLinear : CpuLinear
{
    private byte* _weights;
    private readonly HalfCpuLinear _kernel;

    private DecodedCpuLinear(string name, int rows, int cols, int maxTokens, byte* weights, bool isHalf, string layout)
        : base(name, rows, cols, maxTokens)
    {
        _weights = weights;
        Layout = layout;
        _kernel = HalfCpuLinear.FromMemory(name, rows, cols, maxTokens, weights, isHalf);
    }

    /// <summary>The layout that was decoded.</summary>
    public string Layout { get; }

    /// <summary>True when the decoded copy is FP16, false for FP32.</summary>
    public bool IsHalf => _kernel.IsHalf;

    /// <summary>The bytes of the decoded copy this instance reads per product.</summary>
    public override long WeightBytes => _kernel.WeightBytes;

    /// <summary>Decodes linear <paramref name="name"/> of <paramref name="pack"/> into a native FP16 (default) or FP32 copy.</summary>
    /// <exception cref="KeyNotFoundException">The pack has no linear of that name.</exception>
    /// <exception cref="InvalidDataException">The layout is unknown or the payload malformed.</exception>
    public static DecodedCpuLinear Create(PackedModel pack, string name, int maxTokens, bool keepSingle = false)
    {
        ArgumentNullException.ThrowIfNull(pack);
        var payload = pack.GetLinear(name);
        float[] dense = LinearLayouts.Decode(payload);
        long count = dense.LongLength;
        byte* weights = keepSingle ? (byte*)FloatRowKernel.Allocate<float>(count) : (byte*)FloatRowKernel.Allocate<Half>(count);
        try
        {
            if (keepSingle) dense.CopyTo(new Span<float>(weights, dense.Length));
            else TensorPrimitives.ConvertToHalf(dense, new Span<Half>(weights, dense.Length));
            return new DecodedCpuLinear(name, payload.Rows, payload.Cols, maxTokens, weights, !keepSingle, payload.Layout);
        }
        catch
        {
            FloatRowKernel.Free(weights);
            throw;
        }
    }

    /// <inheritdoc />
    public override void Prepare(ReadOnlySpan<float> input, int tokens)
    {
        _kernel.Prepare(input, tokens);
        PreparedTokens = _kernel.PreparedTokens;
    }

    /// <inheritdoc />
    public override void Multiply(Span<float> output, int rowStart, int rowEnd) => _kernel.Multiply(output, rowStart, rowEnd);

    /// <inheritdoc />
    public override void DecodeRow(int row, Span<float> destination) => _kernel.DecodeRow(row, destination);

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing) _kernel.Dispose();
        FloatRowKernel.Free(_weights);
        _weights = null;
    }

    ~DecodedCpuLinear() => Dispose(false);
}
