using System.Text.Json;
using SagePtq.Runtime.Checkpoints;
using SagePtq.Runtime.Packing;
using SagePtq.Tests;

namespace SagePtq.Quantizer.Tests.Cli;

/// <summary><c>sageptq quantize</c>, <c>inspect</c> and <c>eval --pack</c> end to end on the embedded sagelm-7m.</summary>
public sealed class QuantizeCommandTests
{
    private static string Excerpt => Path.Combine(TestAssets.RepoRoot, "tests", "Shared", "Fixtures", "test-excerpt.txt");

    [Fact]
    public void An_fp16_pack_is_byte_identical_across_runs_and_evaluates_like_the_checkpoint()
    {
        using var dir = TestAssets.NewTempDir();
        string a = Path.Combine(dir.Path, "a"), b = Path.Combine(dir.Path, "b");
        Assert.Equal(0, CliRunner.Run("quantize", "--model", TestAssets.EmbeddedModel, "--method", "fp16", "--out", a).ExitCode);
        Assert.Equal(0, CliRunner.Run("quantize", "--model", TestAssets.EmbeddedModel, "--method", "fp16", "--out", b).ExitCode);
        foreach (var file in new[] { PackFormat.PackFileName, PackFormat.ManifestFileName })
            Assert.Equal(File.ReadAllBytes(Path.Combine(a, file)), File.ReadAllBytes(Path.Combine(b, file)));

        double fromPack = Perplexity(CliRunner.Run("eval", "--pack", a, "--text", Excerpt, "--seq", "128", "--json"));
        double fromCheckpoint = Perplexity(CliRunner.Run("eval", "--fp", "--model", TestAssets.EmbeddedModel, "--text", Excerpt, "--seq", "128", "--json"));
        Assert.Equal(fromCheckpoint, fromPack, 1e-9);
    }

    [Fact]
    public void Rtn_pack_reports_its_bits_and_evaluates_a_little_worse_than_fp()
    {
        using var dir = TestAssets.NewTempDir();
        var q = CliRunner.Run("quantize", "--model", TestAssets.EmbeddedModel, "--method", "rtn", "--bits", "3", "--out", dir.Path, "--json");
        Assert.Equal(0, q.ExitCode);
        using var summary = JsonDocument.Parse(q.Output);
        // 3-bit codes, an FP16 scale and a 3-bit zero per 64 weights: 3 + 19/64 plus per-matrix parameters.
        Assert.InRange(summary.RootElement.GetProperty("storageBitsPerWeight").GetDouble(), 3.296, 3.30);

        var inspect = CliRunner.Run("inspect", "--pack", dir.Path, "--json");
        Assert.Equal(0, inspect.ExitCode);
        using var report = JsonDocument.Parse(inspect.Output);
        Assert.Equal(42, report.RootElement.GetProperty("linears").GetArrayLength());
        Assert.Equal("3", report.RootElement.GetProperty("options").GetProperty("bits").GetString());

        double quantized = Perplexity(CliRunner.Run("eval", "--pack", dir.Path, "--text", Excerpt, "--seq", "128", "--json"));
        double fp = Perplexity(CliRunner.Run("eval", "--fp", "--model", TestAssets.EmbeddedModel, "--text", Excerpt, "--seq", "128", "--json"));
        Assert.InRange(quantized / fp, 1.0, 1.5);
    }

    [Fact]
    public void Calibrated_gptq_runs_on_a_few_short_windows()
    {
        using var dir = TestAssets.NewTempDir();
        var r = CliRunner.Run("quantize", "--model", TestAssets.EmbeddedModel, "--method", "gptq", "--out", dir.Path,
            "--calibration", Excerpt, "--calibration-windows", "2", "--calibration-length", "64");
        Assert.Equal(0, r.ExitCode);
        using var packed = PackedModel.Open(dir.Path);
        Assert.Equal("test-excerpt.txt, 2 x 64 tokens", packed.Manifest.MethodOptions["calibration"]);
    }

    [Theory]
    [InlineData("--method", "magic", "unknown method 'magic'")]
    [InlineData("--option", "bitz=2", "method 'sage' has no option 'bitz'")]
    [InlineData("--method", "gptq", "method 'gptq' needs calibration text")]
    public void Bad_usage_exits_2_with_a_message_and_writes_nothing(string option, string value, string message)
    {
        using var dir = TestAssets.NewTempDir();
        string output = Path.Combine(dir.Path, "out");
        var r = CliRunner.Run("quantize", "--model", TestAssets.EmbeddedModel, option, value, "--out", output);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(message, r.Error);
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void A_nan_weight_is_named_and_no_pack_is_left_behind()
    {
        using var dir = TestAssets.NewTempDir();
        var tiny = new TinyCheckpoint
        {
            EditValues = (name, values) => { if (name == LlamaTensors.Layer(1, "mlp.up_proj")) values[5] = float.NaN; },
        };
        string model = tiny.WriteTo(Path.Combine(dir.Path, "model"));
        File.Copy(Path.Combine(TestAssets.EmbeddedModel, "tokenizer.json"), Path.Combine(model, "tokenizer.json"));
        string output = Path.Combine(dir.Path, "out");

        var r = CliRunner.Run("quantize", "--model", model, "--method", "rtn", "--out", output);
        Assert.True(r.ExitCode == 1, r.Error);
        Assert.Contains("tensor model.layers.1.mlp.up_proj.weight has a non-finite weight (NaN) at [0, 5]", r.Error);
        Assert.False(File.Exists(Path.Combine(output, PackFormat.PackFileName)));
    }

    [Fact]
    public void A_calibration_text_shorter_than_a_window_is_named()
    {
        using var dir = TestAssets.NewTempDir();
        string text = dir.File("short.txt");
        File.WriteAllText(text, "Only a few words.");
        var r = CliRunner.Run("quantize", "--model", TestAssets.EmbeddedModel, "--method", "gptq", "--calibration", text, "--out", dir.File("out"));
        Assert.Equal(1, r.ExitCode);
        Assert.StartsWith("error: short.txt: has ", r.Error);
    }

    [Fact]
    public void An_output_folder_that_cannot_be_created_is_a_clear_error()
    {
        using var dir = TestAssets.NewTempDir();
        File.WriteAllText(dir.File("file"), "not a folder");
        var r = CliRunner.Run("quantize", "--model", TestAssets.EmbeddedModel, "--method", "fp16", "--out", Path.Combine(dir.File("file"), "pack"));
        Assert.Equal(1, r.ExitCode);
        Assert.StartsWith("error: ", r.Error);
    }

    [Fact]
    public void A_truncated_pack_is_refused_by_inspect_and_eval()
    {
        using var dir = TestAssets.NewTempDir();
        Assert.Equal(0, CliRunner.Run("quantize", "--model", TestAssets.EmbeddedModel, "--method", "fp16", "--out", dir.Path).ExitCode);
        string pack = Path.Combine(dir.Path, PackFormat.PackFileName);
        using (var stream = File.OpenWrite(pack)) stream.SetLength(stream.Length - 100);

        var inspect = CliRunner.Run("inspect", "--pack", dir.Path);
        Assert.Equal(1, inspect.ExitCode);
        Assert.StartsWith("error: model.sagepack: ", inspect.Error);
        Assert.Equal(1, CliRunner.Run("eval", "--pack", dir.Path, "--text", Excerpt).ExitCode);
    }

    [Fact]
    public void Eval_needs_exactly_one_model_source()
    {
        Assert.Equal(2, CliRunner.Run("eval", "--text", Excerpt).ExitCode);
        Assert.Equal(2, CliRunner.Run("eval", "--pack", "x", "--fp", "--model", "y", "--text", Excerpt).ExitCode);
    }

    private static double Perplexity(CliResult result)
    {
        Assert.True(result.ExitCode == 0, result.Error);
        using var doc = JsonDocument.Parse(result.Output);
        return doc.RootElement.GetProperty("perplexity").GetDouble();
    }
}
