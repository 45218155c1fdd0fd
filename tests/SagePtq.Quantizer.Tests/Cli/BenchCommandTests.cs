using System.Text.Json;
using SagePtq.Quantizer.Tests.Cpu;
using SagePtq.Tests;

namespace SagePtq.Quantizer.Tests.Cli;

/// <summary><c>sageptq bench</c> runs end to end and reports every figure (speed itself is judged in benchmarks, not here).</summary>
public sealed class BenchCommandTests(Fp16SageLm7mPack fp16) : IClassFixture<Fp16SageLm7mPack>
{
    [Fact]
    public void Reports_every_figure_with_its_yardsticks()
    {
        var r = CliRunner.Run("bench", "--pack", fp16.Path, "--prompt", "8", "--tokens", "4", "--context", "64", "--repeat", "1",
            "--bandwidth-mib", "64", "--threads", "2", "--json");
        Assert.True(r.ExitCode == 0, r.Error);
        using var doc = JsonDocument.Parse(r.Output);
        var root = doc.RootElement;
        Assert.Equal("fp16", root.GetProperty("method").GetString());
        Assert.Equal(2, root.GetProperty("threads").GetInt32());
        foreach (string positive in new[] { "promptTokensPerSecond", "decodeTokensPerSecond", "weightBytesPerSecond", "referenceDecodeTokensPerSecond",
            "decodeSpeedupOverReference", "streamingReadBytesPerSecond", "fractionOfStreamingRead", "contextDecodeTokensPerSecond", "residentBytesAtContext" })
            Assert.True(root.GetProperty(positive).GetDouble() > 0, positive);
        Assert.Equal(JsonValueKind.Null, root.GetProperty("referenceSkipped").ValueKind);
        // Measured only where there are two processors for the two threads.
        if (Environment.ProcessorCount > 1) Assert.True(root.GetProperty("threadRoundTripNanoseconds").GetDouble() > 0);
    }

    [Fact]
    public void Profile_times_every_part_of_a_decode_token()
    {
        var r = CliRunner.Run("bench", "--pack", fp16.Path, "--prompt", "4", "--tokens", "2", "--repeat", "1", "--threads", "2", "--context", "64", "--bandwidth-mib", "64", "--profile");
        Assert.True(r.ExitCode == 0, r.Error);
        if (System.Runtime.Intrinsics.X86.Avx2.IsSupported) Assert.Contains("two tiles at once", r.Output);   // the table kernel's line
        foreach (string part in new[] { "sign kernel", "attention over 64 cached positions", "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head", "decoder linears of a token, in cache", "streaming read", "rmsnorm", "empty pool loop", "allocated", "decode token by step", "decode token" })
            Assert.Contains(part, r.Output);
    }

    [Fact]
    public void Refuses_runs_longer_than_the_model()
    {
        var r = CliRunner.Run("bench", "--pack", fp16.Path, "--prompt", "2000", "--tokens", "100");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--prompt 2000 plus --tokens 100 is longer than the model's 2048 positions", r.Error);
    }

    [Fact]
    public void A_missing_pack_is_bad_input()
    {
        using var dir = TestAssets.NewTempDir();
        var r = CliRunner.Run("bench", "--pack", Path.Combine(dir.Path, "nothing"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("pack folder not found", r.Error);
    }
}
