using SagePtq.Quantizer.Methods;

namespace SagePtq.Quantizer.Tests.Methods;

public sealed class MethodOptionsTests
{
    [Fact]
    public void Reads_given_values_and_records_defaults_as_effective()
    {
        var options = MethodOptions.Parse(["bits=3", "act_order=true"]);
        Assert.Equal(3, options.Int("bits", 2, 2, 8));
        Assert.Equal(128, options.Int("group_size", 128, -1, 4096));
        Assert.True(options.Bool("act_order", false));
        Assert.Equal(0.01, options.Double("damp", 0.01, 0, 1));
        options.ThrowIfUnknown("gptq");
        Assert.Equal(["act_order", "bits", "damp", "group_size"], options.Effective.Keys);
        Assert.Equal("true", options.Effective["act_order"]);
        Assert.Equal("0.01", options.Effective["damp"]);
    }

    [Fact]
    public void An_unknown_option_is_named_with_the_known_ones()
    {
        var options = MethodOptions.Parse(["bitz=3"]);
        options.Int("bits", 2, 2, 8);
        var e = Assert.Throws<ArgumentException>(() => options.ThrowIfUnknown("rtn"));
        Assert.Equal("method 'rtn' has no option 'bitz'; its options are bits", e.Message);
    }

    [Theory]
    [InlineData("bits=9", "option bits=9: expected an integer from 2 to 8")]
    [InlineData("bits=two", "option bits=two: expected an integer from 2 to 8")]
    public void Out_of_range_or_unparsable_values_are_refused(string pair, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => MethodOptions.Parse([pair]).Int("bits", 2, 2, 8));
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void Malformed_and_repeated_pairs_are_refused()
    {
        Assert.Throws<ArgumentException>(() => MethodOptions.Parse(["bits"]));
        Assert.Throws<ArgumentException>(() => MethodOptions.Parse(["bits=2", "bits=3"]));
    }
}
