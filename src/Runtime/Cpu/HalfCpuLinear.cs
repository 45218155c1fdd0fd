using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Packing.Layouts;

namespace SagePtq.Runtime.Cpu;

/// <summary>
/// A linear whose weights are plain floats in the pack: an <c>f16</c> layout linear, or a 2-D float tensor
/// (FP16 or FP32; the LM head or a tied embedding). Products are FP32 inputs × weights with FP32
/// accumulation and no activation quantization, so an FP16 pack reproduces the reference model up to the
/// order of float additions. The weights are read straight from the memory map; the pack must outlive
/// this instance.
/// </summary>
public sealed unsafe class HalfCpuLinear : CpuLinear
{
    private readonly byte* _weights;
    private readonly bool _isHalf;
    private float* _input;

    private HalfCpuLinear(string name, int rows, int cols, int maxTokens, byte* weights, bool isHalf)
        : base(name, rows, cols, maxTokens)
    {
        _weights = weights;
        _isHalf = isHalf;
        _input = FloatRowKernel.Allocate<float>((long)maxTokens * cols);
    }

    /// <summary>True for FP16 weights, false for FP32.</summary>
    public bool IsHalf => _isHalf;

    /// <inheritdoc />
    public override long WeightBytes => (long)Rows * Cols * (_isHalf ? 2 : 4);

    /// <summary>Opens the <c>f16</c> layout linear <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">The pack has no linear of that name.</exception>
    /// <exception cref="InvalidDataException">It is not an <c>f16</c> linear, or its section has the wrong size.</exception>
    public static HalfCpuLinear FromLinear(PackedModel pack, string name, int maxTokens)
    {
        ArgumentNullException.ThrowIfNull(pack);
        var record = pack.Manifest.FindLinear(name) ?? throw new KeyNotFoundException($"linear '{name}' is not in {pack.PackPath}");
        if (record.Layout != F16Layout.LayoutName)
            throw new InvalidDataException($"linear '{name}' has layout '{record.Layout}', not '{F16Layout.LayoutName}'");
        var bytes = pack.GetTensorBytes(PackFormat.SectionTensorName(name, F16Layout.WeightSection));
        long expected = (long)record.Rows * record.Cols * 2;
        if (bytes.Length != expected)
            throw new InvalidDataException($"linear '{name}' section '{F16Layout.WeightSection}' has {bytes.Length} bytes, [{record.Rows}, {record.Cols}] needs {expected}");
        return new HalfCpuLinear(name, record.Rows, record.Cols, maxTokens, CpuLinearGuards.Pointer(bytes), isHalf: true);
    }

    /// <summary>Opens the 2-D float tensor <paramref name="name"/> (FP16 or FP32) as a [shape[0], shape[1]] linear.</summary>
    /// <exception cref="KeyNotFoundException">The pack has no tensor of that name.</exception>
    /// <exception cref="InvalidDataException">The tensor is not a 2-D float tensor.</exception>
    public static HalfCpuLinear FromTensor(PackedModel pack, string name, int maxTokens)
    {
        ArgumentNullException.ThrowIfNull(pack);
        var record = pack.Manifest.FindTensor(name) ?? throw new KeyNotFoundException($"tensor '{name}' is not in {pack.PackPath}");
        if (record.DataType is not (PackDataType.Float16 or PackDataType.Float32) || record.Shape.Count != 2)
            throw new InvalidDataException($"tensor '{name}' is {PackFormat.DataTypeName(record.DataType)} [{string.Join(", ", record.Shape)}], not a 2-D float tensor");
        if (record.Shape[0] > int.MaxValue || record.Shape[1] > int.MaxValue)
            throw new InvalidDataException($"tensor '{name}' shape [{string.Join(", ", record.Shape)}] is too large");
        var bytes = pack.GetTensorBytes(name);
        return new HalfCpuLinear(name, (int)record.Shape[0], (int)record.Shape[1], maxTokens, CpuLinearGuards.Pointer(bytes), record.DataType == PackDataType.Float16);
    }

    /// <summary>Wraps weights the caller owns (<see cref="DecodedCpuLinear"/>); they must outlive the instance.</summary>
    internal static HalfCpuLinear FromMemory(string name, int rows, int cols, int maxTokens, byte* weights, bool isHalf) =>
        new(name, rows, cols, maxTokens, weights, isHalf);

    /// <inheritdoc />
    public override void Prepare(ReadOnlySpan<float> input, int tokens)
    {
        ObjectDisposedException.ThrowIf(_input == null, this);
        CpuLinearGuards.CheckPrepare(this, input, tokens);
        input[..(tokens * Cols)].CopyTo(new Span<float>(_input, tokens * Cols));
        PreparedTokens = tokens;
    }

    /// <inheritdoc />
    public override void Multiply(Span<float> output, int rowStart, int rowEnd)
    {
        ObjectDisposedException.ThrowIf(_input == null, this);
        CpuLinearGuards.CheckMultiply(this, output, rowStart, rowEnd);
        FloatRowKernel.Multiply(_weights, _isHalf, Rows, Cols, _input, PreparedTokens, output, rowStart, rowEnd);
    }

    /// <inheritdoc />
    public override void DecodeRow(int row, Span<float> destination)
    {
        CpuLinearGuards.CheckDecodeRow(this, row, destination);
        FloatRowKernel.DecodeRow(_weights, _isHalf, Cols, row, destination);
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        FloatRowKernel.Free(_input);
        _input = null;
    }

    ~HalfCpuLinear() => Dispose(false);
}
