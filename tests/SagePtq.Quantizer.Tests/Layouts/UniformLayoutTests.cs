using SagePtq.Quantizer.Methods;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Packing.Layouts;
using static SagePtq.Quantizer.Tests.Numerics.NaiveLinearAlgebra;

namespace SagePtq.Quantizer.Tests.Layouts;

public sealed class UniformLayoutTests
{
    private static UniformWeights RandomWeights(int rows, int cols, int bits, int groupSize, bool groupIndex, int reserved, int seed)
    {
        var random = new Random(seed);
        int groups = (cols + groupSize - 1) / groupSize, maxCode = (1 << bits) - 1;
        var codes = Enumerable.Range(0, rows * cols).Select(_ => (byte)random.Next(maxCode + 1)).ToArray();
        var scales = Enumerable.Range(0, rows * groups).Select(_ => (Half)(random.NextDouble() * 0.1)).ToArray();
        var zeros = Enumerable.Range(0, rows * groups).Select(_ => (byte)random.Next(maxCode + 1)).ToArray();
        int[]? index = groupIndex ? [.. Enumerable.Range(0, cols).Select(_ => random.Next(groups))] : null;
        var reservedIndex = Enumerable.Range(0, rows * cols).OrderBy(_ => random.Next()).Take(reserved).Order().Select(k => (uint)k).ToArray();
        var reservedValue = reservedIndex.Select(_ => (Half)(random.NextDouble() * 4 - 2)).ToArray();
        return new UniformWeights(rows, cols, bits, groupSize, codes, scales, zeros, index, reservedIndex, reservedValue);
    }

    [Theory]
    [InlineData(3, 13, 3, 5, false, 0)]
    [InlineData(7, 9, 2, 4, true, 3)]
    [InlineData(1, 1, 8, 1, false, 1)]
    [InlineData(5, 31, 5, 31, false, 4)]
    [InlineData(11, 17, 7, 6, true, 0)]
    public void Round_trips_bit_exactly(int rows, int cols, int bits, int groupSize, bool groupIndex, int reserved)
    {
        var weights = RandomWeights(rows, cols, bits, groupSize, groupIndex, reserved, seed: rows * cols + bits);
        var payload = UniformLayout.Encode(weights);
        var read = UniformLayout.Read(payload);
        Assert.Equal(weights.Codes, read.Codes);
        Assert.Equal(weights.Scales, read.Scales);
        Assert.Equal(weights.Zeros, read.Zeros);
        Assert.Equal(weights.GroupIndex is null || (cols + groupSize - 1) / groupSize == 1 ? null : weights.GroupIndex, read.GroupIndex);
        Assert.Equal(weights.ReservedIndex, read.ReservedIndex);
        Assert.Equal(weights.ReservedValue, read.ReservedValue);

        var expected = new float[rows * cols];
        weights.Dequantize(expected);
        var decoded = new float[rows * cols];
        new UniformLayout().Decode(payload, decoded);
        Assert.Equal(expected, decoded);
        // The definition by hand for one weight that is not reserved.
        foreach (int k in Enumerable.Range(0, rows * cols).Where(i => !weights.ReservedIndex.Contains((uint)i)).Take(1))
        {
            int r = k / cols, c = k % cols, slot = r * weights.GroupsPerRow + weights.GroupOf(c);
            Assert.Equal((float)weights.Scales[slot] * (weights.Codes[k] - weights.Zeros[slot]), decoded[k]);
        }
        foreach (var (index, value) in weights.ReservedIndex.Zip(weights.ReservedValue)) Assert.Equal((float)value, decoded[index]);
    }

    [Fact]
    public void Codes_are_one_lsb_first_bit_stream_without_row_padding()
    {
        // 1 × 3 at 3 bits: codes 5, 2, 7 → bits 101 010 111 (LSB first) → 0b11_010_101, 0b1.
        var weights = new UniformWeights(1, 3, 3, 3, [5, 2, 7], [(Half)1], [1], null, [], []);
        Assert.Equal([0b1101_0101, 0b0000_0001], UniformLayout.Encode(weights).Section("codes"));
    }

    [Theory]
    [InlineData(16, 256, 2, 128)]
    [InlineData(12, 200, 2, 128)]  // the last group of each row is 72 columns
    [InlineData(9, 70, 3, 64)]
    public void Storage_bits_count_codes_fp16_scales_and_b_bit_zeros(int rows, int cols, int bits, int groupSize)
    {
        var target = new LinearTarget("w", rows, cols, RandomFloats(rows * cols, 3), null, 0);
        var payload = new RoundToNearestQuantizer(bits, groupSize).Quantize(target).Payload;
        int groups = (cols + groupSize - 1) / groupSize;
        long expectedBytes = (rows * cols * bits + 7) / 8 + 2L * rows * groups + (rows * groups * bits + 7) / 8 + 4 * 2;
        Assert.Equal(expectedBytes, payload.StoredBytes);
        Assert.Equal(8.0 * expectedBytes / (rows * cols), payload.StorageBitsPerWeight, 12);
        if (cols % groupSize == 0 && rows * cols * bits % 8 == 0 && rows * groups * bits % 8 == 0)
            // b + 16/g (FP16 scale) + b/g (zero) + 64 / (rows·cols) (the two parameters).
            Assert.Equal(bits + 16.0 / groupSize + (double)bits / groupSize + 64.0 / (rows * cols), payload.StorageBitsPerWeight, 12);
    }

    [Fact]
    public void A_2_bit_g128_payload_costs_2_plus_18_over_128_bits_and_reports_2_25_paper_bits()
    {
        var result = new RoundToNearestQuantizer(2, 128).Quantize(new LinearTarget("w", 32, 512, RandomFloats(32 * 512, 6), null, 0));
        Assert.Equal(2 + 16.0 / 128 + 2.0 / 128 + 64.0 / (32 * 512), result.Payload.StorageBitsPerWeight, 12);
        Assert.Equal(2.25, result.Stats.PaperBitsPerWeight);
        Assert.Equal(1, result.Stats.GroupCount);
    }

    private static LinearPayload Replace(LinearPayload payload, string section, byte[]? bytes = null, Dictionary<string, int>? parameters = null)
    {
        var sections = payload.Sections.Where(s => s.Name != section).ToList();
        if (bytes is not null) sections.Add(new PayloadSection(section, bytes));
        return payload with { Sections = sections, Parameters = parameters ?? new Dictionary<string, int>(payload.Parameters) };
    }

    [Fact]
    public void Malformed_payloads_are_refused()
    {
        var good = UniformLayout.Encode(RandomWeights(4, 10, 3, 4, true, 2, seed: 1));
        var layout = new UniformLayout();
        void Refused(LinearPayload payload, string message) =>
            Assert.Contains(message, Assert.Throws<InvalidDataException>(() => layout.Decode(payload, new float[40])).Message);

        Refused(good with { Layout = "binary" }, "is not 'uniform'");
        Refused(Replace(good, "codes", new byte[3]), "section 'codes' has 3 bytes, expected 15");
        Refused(Replace(good, "scales"), "no section 'scales'");
        Refused(Replace(good, "zeros", new byte[1]), "section 'zeros'");
        Refused(Replace(good, "x", parameters: new() { ["bits"] = 9, ["group_size"] = 4 }), "bits = 9");
        Refused(Replace(good, "x", parameters: new() { ["bits"] = 3, ["group_size"] = 11 }), "group_size = 11");
        Refused(Replace(good, "x", parameters: new() { ["bits"] = 3 }), "no parameter 'group_size'");
        Refused(Replace(good, "reserved_value"), "only one of");
        Refused(Replace(good, "reserved_index", [9, 0, 0, 0, 2, 0, 0, 0]), "not strictly ascending");
        Refused(Replace(good, "reserved_index", [9, 0, 0, 0, 200, 0, 0, 0]), "outside the 40 weights");
        Refused(Replace(good, "group_index", [.. Enumerable.Repeat((byte)0, 18), 7, 0]), "group index is outside");
        Assert.Throws<ArgumentException>(() => layout.Decode(good, new float[39]));
    }

    [Fact]
    public void Inconsistent_weights_cannot_be_encoded()
    {
        var good = RandomWeights(2, 6, 2, 3, false, 0, seed: 2);
        Assert.Throws<ArgumentException>(() => UniformLayout.Encode(good with { Codes = [.. good.Codes.Take(11), (byte)4] }));
        Assert.Throws<ArgumentException>(() => UniformLayout.Encode(good with { Bits = 1 }));
        Assert.Throws<ArgumentException>(() => UniformLayout.Encode(good with { Zeros = [1] }));
        Assert.Throws<ArgumentException>(() => UniformLayout.Encode(good with { ReservedIndex = [3u], ReservedValue = [] }));
    }
}
