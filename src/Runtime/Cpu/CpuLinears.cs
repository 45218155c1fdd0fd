using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Packing.Layouts;

namespace SagePtq.Runtime.Cpu;

/// <summary>
/// Opens any linear of a pack with the fastest CPU kernel that reads it:
/// <list type="bullet">
/// <item>a linear record by its layout: <c>uniform</c> → <see cref="UniformCpuLinear"/> where it supports the
/// variant, <c>f16</c> → <see cref="HalfCpuLinear"/>, a layout in <see cref="FastOpeners"/> → its opener;</item>
/// <item>a 2-D float tensor (FP16 or FP32: the LM head or a tied embedding) → <see cref="HalfCpuLinear"/>;</item>
/// <item>anything else, and any fast opener that throws <see cref="NotSupportedException"/> → <see cref="DecodedCpuLinear"/>
/// (a decoded FP16 copy: correct, not memory-speed).</item>
/// </list>
/// </summary>
public static class CpuLinears
{
    /// <summary>
    /// The layouts with a kernel of their own, by layout name; an opener throws
    /// <see cref="NotSupportedException"/> for variants of its layout it does not read.
    /// </summary>
    private static readonly Dictionary<string, Func<PackedModel, string, int, CpuLinear>> FastOpeners = new(StringComparer.Ordinal)
    {
        [SageLayout.LayoutName] = SageCpuLinear.Create,
        [UniformLayout.LayoutName] = UniformCpuLinear.Create,
        [F16Layout.LayoutName] = HalfCpuLinear.FromLinear,
    };

    /// <summary>The layouts with a kernel of their own (the rest are decoded).</summary>
    public static IReadOnlyCollection<string> FastLayouts => FastOpeners.Keys;

    /// <summary>Opens linear or 2-D float tensor <paramref name="name"/> of <paramref name="pack"/>, for up to <paramref name="maxTokens"/> inputs per product.</summary>
    /// <exception cref="KeyNotFoundException">The pack has neither a linear nor a float tensor of that name.</exception>
    /// <exception cref="InvalidDataException">The tensor is not 2-D, or the payload is malformed.</exception>
    public static CpuLinear Open(PackedModel pack, string name, int maxTokens)
    {
        ArgumentNullException.ThrowIfNull(pack);
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTokens, 1);
        var linear = pack.Manifest.FindLinear(name);
        if (linear is not null)
        {
            if (FastOpeners.TryGetValue(linear.Layout, out var open))
            {
                try { return open(pack, name, maxTokens); }
                catch (NotSupportedException) { /* a variant the fast kernel does not read: decode it */ }
            }
            return DecodedCpuLinear.Create(pack, name, maxTokens);
        }
        var tensor = pack.Manifest.FindTensor(name);
        if (tensor is not null && tensor.DataType is PackDataType.Float16 or PackDataType.Float32)
            return HalfCpuLinear.FromTensor(pack, name, maxTokens);
        throw new KeyNotFoundException($"'{name}' is neither a linear nor a float tensor of {pack.PackPath}");
    }
}
