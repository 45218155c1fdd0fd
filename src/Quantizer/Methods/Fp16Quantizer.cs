using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Packing.Layouts;

namespace SagePtq.Quantizer.Methods;

/// <summary>
/// No quantization: every linear stored as FP16 in the same pack format, so that the end-to-end
/// paths (pack reader, runtime, generated code) can be checked against the checkpoint itself.
/// </summary>
public sealed class Fp16Quantizer : ILinearQuantizer
{
    public string Method => "fp16";

    public bool NeedsHessian => false;

    public QuantizedLinear Quantize(LinearTarget target)
    {
        TargetChecks.Validate(target, Method, needsHessian: false);
        var (payload, dequantized) = F16Layout.Encode(target.Weight, target.Rows, target.Cols);
        return new QuantizedLinear(payload, dequantized, F16Layout.Stats);
    }
}
