using System.Text.Json;
using SagePtq.Runtime.Reference;
using SagePtq.Runtime.Tokenization;
using SagePtq.Tests;

namespace SagePtq.Quantizer.Tests.Cli;

public class EvalCommandTests
{
    private static string Excerpt => Path.Combine(TestAssets.RepoRoot, "tests", "Shared", "Fixtures", "test-excerpt.txt");

    [Fact]
    public void Prints_the_perplexity_the_library_computes()
    {
        var r = CliRunner.Run("eval", "--fp", "--model", TestAssets.EmbeddedModel, "--text", Excerpt, "--seq", "128", "--json");
        Assert.Equal(0, r.ExitCode);
        using var doc = JsonDocument.Parse(r.Output);
        var root = doc.RootElement;

        var tokenizer = Tokenizer.Load(Path.Combine(TestAssets.EmbeddedModel, "tokenizer.json"));
        int[] tokens = EvaluationText.TokenizeDocuments(tokenizer, File.ReadAllText(Excerpt));
        var expected = Perplexity.Evaluate(ReferenceModel.Load(TestAssets.EmbeddedModel), tokens, 128);

        Assert.Equal(expected.Windows, root.GetProperty("windows").GetInt32());
        Assert.Equal(tokens.Length / 128, expected.Windows);
        Assert.Equal(expected.Perplexity, root.GetProperty("perplexity").GetDouble(), 1e-9);
        Assert.InRange(expected.Perplexity, 5, 200);
    }

    [Fact]
    public void Max_windows_limits_the_work_and_text_output_is_readable()
    {
        var r = CliRunner.Run("eval", "--fp", "--model", TestAssets.EmbeddedModel, "--text", Excerpt, "--seq", "64", "--max-windows", "2");
        Assert.Equal(0, r.ExitCode);
        Assert.Matches(@"^perplexity \d+\.\d\d\n  2 windows of 64 tokens \(126 predictions", r.Output);
    }

    [Fact]
    public void A_window_longer_than_the_model_context_is_refused()
    {
        var r = CliRunner.Run("eval", "--fp", "--model", TestAssets.EmbeddedModel, "--text", Excerpt, "--seq", "4096");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--seq 4096 is longer than the model's context: max_position_embeddings is 2048 in config.json", r.Error);
    }

    [Fact]
    public void An_empty_or_too_short_text_is_named()
    {
        using var dir = TestAssets.NewTempDir();
        File.WriteAllText(dir.File("empty.txt"), "\n\n");
        var empty = CliRunner.Run("eval", "--fp", "--model", TestAssets.EmbeddedModel, "--text", dir.File("empty.txt"));
        Assert.Equal(1, empty.ExitCode);
        Assert.Equal("error: empty.txt: is empty: there is no text to read\n", empty.Error);

        File.WriteAllText(dir.File("short.txt"), "Only a few words.");
        var tooShort = CliRunner.Run("eval", "--fp", "--model", TestAssets.EmbeddedModel, "--text", dir.File("short.txt"));
        Assert.Equal(1, tooShort.ExitCode);
        Assert.Contains("short.txt: has 6 tokens, fewer than one window of 1024", tooShort.Error);
    }

    [Fact]
    public void A_missing_or_broken_model_is_reported_without_a_stack_trace()
    {
        using var dir = TestAssets.NewTempDir();
        var missing = CliRunner.Run("eval", "--fp", "--model", dir.File("nowhere"), "--text", Excerpt);
        Assert.Equal(1, missing.ExitCode);
        Assert.Equal("error: nowhere: model folder not found\n", missing.Error);

        foreach (var file in Directory.GetFiles(TestAssets.EmbeddedModel)) File.Copy(file, dir.File(Path.GetFileName(file)));
        byte[] weights = File.ReadAllBytes(dir.File("model.safetensors"));
        File.WriteAllBytes(dir.File("model.safetensors"), weights[..(weights.Length / 2)]);
        var truncated = CliRunner.Run("eval", "--fp", "--model", dir.Path, "--text", Excerpt);
        Assert.Equal(1, truncated.ExitCode);
        Assert.StartsWith("error: model.safetensors: tensor ", truncated.Error);
        Assert.DoesNotContain("   at ", truncated.Error);
    }

    [Fact]
    public void Unknown_verbs_and_options_are_usage_errors()
    {
        Assert.Equal(2, CliRunner.Run("frobnicate").ExitCode);
        Assert.Equal(2, CliRunner.Run("eval", "--fp", "--model", TestAssets.EmbeddedModel, "--text", Excerpt, "--bogus").ExitCode);
        Assert.Equal(2, CliRunner.Run("eval", "--text", Excerpt, "--model", TestAssets.EmbeddedModel).ExitCode);
    }
}
