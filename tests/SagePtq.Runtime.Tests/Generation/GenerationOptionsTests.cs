using SagePtq.Runtime.Generation;

namespace SagePtq.Runtime.Tests.Generation;

public sealed class GenerationOptionsTests
{
    [Fact]
    public void Defaults_are_valid_and_greedy_has_temperature_zero()
    {
        var options = new GenerationOptions();
        Assert.True(options.MaxTokens > 0);
        Assert.Equal(1f, options.RepetitionPenalty);
        Assert.Null(options.Seed);
        Assert.True(options.StopAtEos);
        Assert.Empty(options.StopSequences);
        Assert.Equal(0f, GenerationOptions.Greedy.Temperature);
    }

    [Fact]
    public void Accepts_the_edges_of_every_range()
    {
        var options = new GenerationOptions { MaxTokens = 0, Temperature = 0, TopK = 0, TopP = 1, RepetitionPenalty = 0.5f, Seed = 0 };
        Assert.Equal(0, options.MaxTokens);
        Assert.Equal(1e-9f, (options with { TopP = 1e-9f }).TopP);
    }

    public static TheoryData<string, Func<GenerationOptions>> Invalid => new()
    {
        { nameof(GenerationOptions.MaxTokens), () => new GenerationOptions { MaxTokens = -1 } },
        { nameof(GenerationOptions.Temperature), () => new GenerationOptions { Temperature = -0.1f } },
        { nameof(GenerationOptions.Temperature), () => new GenerationOptions { Temperature = float.NaN } },
        { nameof(GenerationOptions.TopK), () => new GenerationOptions { TopK = -1 } },
        { nameof(GenerationOptions.TopP), () => new GenerationOptions { TopP = 0 } },
        { nameof(GenerationOptions.TopP), () => new GenerationOptions { TopP = 1.01f } },
        { nameof(GenerationOptions.TopP), () => new GenerationOptions { TopP = float.NaN } },
        { nameof(GenerationOptions.RepetitionPenalty), () => new GenerationOptions { RepetitionPenalty = 0 } },
        { nameof(GenerationOptions.RepetitionPenalty), () => GenerationOptions.Greedy with { RepetitionPenalty = -1 } },
    };

    [Theory, MemberData(nameof(Invalid))]
    public void Rejects_out_of_range_values_naming_the_setting(string setting, Func<GenerationOptions> create)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(create);
        Assert.Equal(setting, error.ParamName);
    }
}
