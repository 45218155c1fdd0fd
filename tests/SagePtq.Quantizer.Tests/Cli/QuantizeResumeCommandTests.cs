using SagePtq.Quantizer.Pipeline;
using SagePtq.Runtime.Packing;
using SagePtq.Tests;
using Xunit;

namespace SagePtq.Quantizer.Tests.Cli;

/// <summary><c>sageptq quantize</c>'s streamed data-free path: the resume folder beside the output and <c>--parallel-linears</c>.</summary>
public sealed class QuantizeResumeCommandTests
{
    [Fact]
    public void A_foreign_partial_state_is_discarded_with_a_message_and_success_removes_it()
    {
        using var dir = TestAssets.NewTempDir();
        string output = dir.File("out"), partial = ResumeStore.PathFor(output);
        Directory.CreateDirectory(partial);
        File.WriteAllText(Path.Combine(partial, ResumeStore.InputsFileName), "{\"from\": \"another run\"}");
        File.WriteAllText(Path.Combine(partial, "layer-00000.bin"), "stale");

        var r = CliRunner.Run("quantize", "--model", TestAssets.EmbeddedModel, "--method", "rtn", "--bits", "2", "--out", output);
        Assert.True(r.ExitCode == 0, r.Error);
        Assert.Contains("discarding the partial state", r.Error);
        Assert.False(Directory.Exists(partial));
        Assert.True(File.Exists(Path.Combine(output, PackFormat.PackFileName)));
    }

    [Fact]
    public void Parallel_linears_give_the_same_pack()
    {
        using var dir = TestAssets.NewTempDir();
        string one = dir.File("one"), three = dir.File("three");
        Assert.Equal(0, CliRunner.Run("quantize", "--model", TestAssets.EmbeddedModel, "--method", "rtn", "--bits", "2", "--out", one).ExitCode);
        var r = CliRunner.Run("quantize", "--model", TestAssets.EmbeddedModel, "--method", "rtn", "--bits", "2", "--out", three, "--parallel-linears", "3");
        Assert.True(r.ExitCode == 0, r.Error);
        Assert.Equal(File.ReadAllBytes(Path.Combine(one, PackFormat.PackFileName)), File.ReadAllBytes(Path.Combine(three, PackFormat.PackFileName)));
        Assert.Equal(2, CliRunner.Run("quantize", "--model", TestAssets.EmbeddedModel, "--out", dir.File("x"), "--parallel-linears", "8").ExitCode);
    }
}
