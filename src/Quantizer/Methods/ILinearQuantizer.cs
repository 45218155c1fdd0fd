using SagePtq.Runtime.Packing;

namespace SagePtq.Quantizer.Methods;

/// <summary>
/// One linear to quantize: its full checkpoint name, its weight [rows = out, cols = in] row-major in
/// FP32, and, in calibrated mode, the Hessian proxy H = (2/n) Σ xᵀx of its inputs (cols × cols,
/// row-major, not damped); null in data-free mode. <paramref name="Seed"/> makes every random choice
/// reproducible: same inputs, same seed, same bytes.
/// </summary>
public sealed record LinearTarget(string Name, int Rows, int Cols, float[] Weight, double[]? Hessian, ulong Seed);

/// <summary>A quantized linear: what goes into the pack, the dense weights it decodes to, and its manifest statistics.</summary>
public sealed record QuantizedLinear(LinearPayload Payload, float[] Dequantized, LinearStats Stats);

/// <summary>A quantization method for one linear (SAGE-PTQ or a baseline), with its options fixed at construction.</summary>
public interface ILinearQuantizer
{
    /// <summary>The method's CLI name (<c>sage</c>, <c>rtn</c>, <c>gptq</c>...).</summary>
    string Method { get; }

    /// <summary>Whether the method needs <see cref="LinearTarget.Hessian"/> (calibration text).</summary>
    bool NeedsHessian { get; }

    QuantizedLinear Quantize(LinearTarget target);
}
