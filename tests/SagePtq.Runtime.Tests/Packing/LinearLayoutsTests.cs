using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Packing.Layouts;
using Xunit;

namespace SagePtq.Runtime.Tests.Packing;

public sealed class LinearLayoutsTests
{
    [Fact]
    public void RegistryFindsF16AndNamesAnUnknownLayout()
    {
        Assert.IsType<F16Layout>(LinearLayouts.Get("f16"));
        Assert.Contains(LinearLayouts.BuiltIn, l => l.Name == "f16");
        Assert.Equal(LinearLayouts.BuiltIn.Count, LinearLayouts.BuiltIn.Select(l => l.Name).Distinct().Count());
        var e = Assert.Throws<InvalidDataException>(() => LinearLayouts.Get("nonesuch"));
        Assert.Contains("'nonesuch'", e.Message);
    }

    [Fact]
    public void F16EncodeDecodesToItsDequantizedFloatsAndRoundsToNearestHalf()
    {
        var random = new Random(5);
        var weight = Enumerable.Range(0, 6 * 10).Select(_ => (float)(random.NextDouble() * 8 - 4)).ToArray();
        weight[0] = 65504f * 2;   // overflows to infinity, as the FP16 conversion defines
        weight[1] = 1e-8f;         // rounds to zero
        var (payload, dequantized) = F16Layout.Encode(weight, 6, 10);

        Assert.Equal("f16", payload.Layout);
        Assert.Equal(6 * 10 * 2, payload.Section("weight").Length);
        Assert.Equal(16.0, payload.StorageBitsPerWeight);
        Assert.Equal(new LinearStats(1, 0, 0, 0, 16), F16Layout.Stats);
        // Oracle: .NET's scalar float → Half cast, element by element.
        Assert.Equal(weight.Select(v => (float)(Half)v).ToArray(), dequantized);
        Assert.Equal(dequantized, LinearLayouts.Decode(payload));
    }

    [Fact]
    public void F16RefusesMalformedPayloadsAndBadArguments()
    {
        var (payload, _) = F16Layout.Encode(new float[12], 3, 4);
        var shortSection = payload with { Sections = [new PayloadSection("weight", new byte[23])] };
        Assert.Contains("has 23 bytes", Assert.Throws<InvalidDataException>(() => LinearLayouts.Decode(shortSection)).Message);
        Assert.Contains("no section 'weight'", Assert.Throws<InvalidDataException>(() => LinearLayouts.Decode(payload with { Sections = [] })).Message);
        Assert.Throws<InvalidDataException>(() => new F16Layout().Decode(payload with { Layout = "sage" }, new float[12]));
        Assert.Throws<ArgumentException>(() => new F16Layout().Decode(payload, new float[11]));
        Assert.Throws<ArgumentException>(() => F16Layout.Encode(new float[12], 3, 5));
    }
}
