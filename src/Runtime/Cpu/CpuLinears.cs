// SCRATCH (not committed): replaced by the unikern helper's factory at merge.
using SagePtq.Runtime.Packing;
namespace SagePtq.Runtime.Cpu;
public static class CpuLinears
{
    public static CpuLinear Open(PackedModel pack, string name, int maxTokens) => ScratchDense.Open(pack, name, maxTokens);
}
internal sealed class ScratchDense : CpuLinear
{
    private readonly float[] _w; private float[] _x = [];
    private ScratchDense(string name, int rows, int cols, int maxTokens, float[] w) : base(name, rows, cols, maxTokens) => _w = w;
    public static CpuLinear Open(PackedModel pack, string name, int maxTokens)
    {
        var rec = pack.Manifest.FindLinear(name);
        if (rec is not null) return new ScratchDense(name, rec.Rows, rec.Cols, maxTokens, LinearLayouts.Decode(pack.GetLinear(name)));
        var t = pack.Manifest.FindTensor(name) ?? throw new KeyNotFoundException(name);
        return new ScratchDense(name, (int)t.Shape[0], (int)t.Shape[1], maxTokens, pack.ReadFloats(name));
    }
    public override long WeightBytes => _w.Length * 4L;
    public override void Prepare(ReadOnlySpan<float> input, int tokens) { _x = input[..(tokens * Cols)].ToArray(); PreparedTokens = tokens; }
    public override void Multiply(Span<float> output, int rowStart, int rowEnd)
    {
        for (int t = 0; t < PreparedTokens; t++) for (int r = rowStart; r < rowEnd; r++)
            output[t * Rows + r] = System.Numerics.Tensors.TensorPrimitives.Dot(_w.AsSpan(r * Cols, Cols), _x.AsSpan(t * Cols, Cols));
    }
    public override void DecodeRow(int row, Span<float> destination) => _w.AsSpan(row * Cols, Cols).CopyTo(destination);
}
