namespace SagePtq.Runtime.Checkpoints;

/// <summary>The element types a checkpoint tensor may have (safetensors dtype names).</summary>
public enum TensorDType
{
    F16,
    BF16,
    F32,
}

public static class TensorDTypeExtensions
{
    public static int ByteSize(this TensorDType dtype) => dtype == TensorDType.F32 ? 4 : 2;

    /// <summary>Parses a safetensors dtype name; null for names this runtime cannot read.</summary>
    public static TensorDType? TryParse(string name) => name switch
    {
        "F16" => TensorDType.F16,
        "BF16" => TensorDType.BF16,
        "F32" => TensorDType.F32,
        _ => null,
    };
}

/// <summary>Where one tensor lies: its file, element type, shape and absolute byte range.</summary>
public sealed record TensorInfo(string Name, string FilePath, TensorDType DType, long[] Shape, long Offset, long ByteLength)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);

    public string ShapeText => $"[{string.Join(", ", Shape)}]";
}
