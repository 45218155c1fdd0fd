namespace SagePtq.Runtime.Cuda;

/// <summary>Grid or block dimensions of a launch.</summary>
/// <param name="X">Extent in x (at least 1).</param>
/// <param name="Y">Extent in y (at least 1).</param>
/// <param name="Z">Extent in z (at least 1).</param>
public readonly record struct Dim3(uint X, uint Y = 1, uint Z = 1)
{
    /// <summary>A one-dimensional extent.</summary>
    public static implicit operator Dim3(uint x) => new(x);

    /// <summary>The number of blocks (or threads) covering <paramref name="count"/> items <paramref name="perBlock"/> at a time.</summary>
    public static uint BlocksFor(long count, uint perBlock)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfZero(perBlock);
        return checked((uint)((count + perBlock - 1) / perBlock));
    }
}
