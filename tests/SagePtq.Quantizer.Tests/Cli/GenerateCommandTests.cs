using System.Text.Json;
using SagePtq.Tests;

namespace SagePtq.Quantizer.Tests.Cli;

public class GenerateCommandTests
{
    [Fact]
    public void Greedy_generation_of_the_embedded_model_gives_the_golden_continuation()
    {
        var golden = GoldenPrompts.Load(GoldenPrompts.SageLm7mPath)[1];
        var r = CliRunner.Run("generate", "--fp", "--model", TestAssets.EmbeddedModel, "--prompt", golden.Prompt,
            "--temperature", "0", "--max-tokens", "40", "--json");

        Assert.Equal(0, r.ExitCode);
        using var doc = JsonDocument.Parse(r.Output);
        var root = doc.RootElement;
        Assert.Equal(golden.GreedyIds, root.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray());
        // The continuation keeps the space that joins it to the prompt; the golden text was decoded alone.
        Assert.Equal(" " + golden.GreedyText, root.GetProperty("text").GetString());
        Assert.Equal(golden.Ids.Length, root.GetProperty("promptTokens").GetInt32());
        Assert.Equal("Length", root.GetProperty("finishReason").GetString());
    }

    [Fact]
    public void Streams_prompt_and_continuation_as_plain_text_and_stops_at_a_stop_sequence()
    {
        var golden = GoldenPrompts.Load(GoldenPrompts.SageLm7mPath)[1];
        string stopAfter = string.Join(' ', golden.GreedyText.Split(' ').Take(3));
        string stop = golden.GreedyText.Split(' ')[3];
        var r = CliRunner.Run("generate", "--fp", "--model", TestAssets.EmbeddedModel, "--prompt", golden.Prompt,
            "--temperature", "0", "--max-tokens", "40", "--stop", stop);

        Assert.Equal(0, r.ExitCode);
        Assert.Equal($"{golden.Prompt} {stopAfter} \n", r.Output);
        Assert.Contains("ended by StopSequence", r.Error);
    }

    [Fact]
    public void The_same_seed_gives_the_same_text()
    {
        string[] args = ["generate", "--fp", "--model", TestAssets.EmbeddedModel, "--prompt", "The jury", "--max-tokens", "12", "--seed", "7", "--temperature", "1.2"];
        Assert.Equal(CliRunner.Run(args).Output, CliRunner.Run(args).Output);
    }

    [Theory]
    [InlineData(new[] { "--temperature", "-1" }, "--temperature must be between")]
    [InlineData(new[] { "--top-p", "1.5" }, "--top-p must be between")]
    [InlineData(new[] { "--max-tokens", "5000" }, "longer than the model's 2048 positions")]
    public void Bad_options_are_usage_errors(string[] extra, string expected)
    {
        var r = CliRunner.Run(["generate", "--fp", "--model", TestAssets.EmbeddedModel, "--prompt", "Hi", .. extra]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(expected, r.Error);
    }

    [Fact]
    public void Without_fp_it_says_what_is_available()
    {
        var r = CliRunner.Run("generate", "--model", TestAssets.EmbeddedModel, "--prompt", "Hi");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("give --pack DIR", r.Error);
    }
}
