using SagePtq.Quantizer.Tests.Cli;
using SagePtq.Runtime.Cpu;
using SagePtq.Runtime.Generation;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Reference;
using SagePtq.Tests;
using Xunit.Abstractions;

namespace SagePtq.Quantizer.Tests.Cpu;

/// <summary>The embedded sagelm-7m quantized with <c>fp16</c>: the pack whose CPU run must reproduce the goldens.</summary>
public sealed class Fp16SageLm7mPack : IDisposable
{
    private readonly TempDir _dir = TestAssets.NewTempDir();

    public Fp16SageLm7mPack()
    {
        var r = CliRunner.Run("quantize", "--model", TestAssets.EmbeddedModel, "--method", "fp16", "--out", Path);
        Assert.True(r.ExitCode == 0, r.Error);
    }

    public string Path => _dir.Path;

    public void Dispose() => _dir.Dispose();
}

/// <summary>sagelm-30m quantized with <c>fp16</c>, made on first use (it needs ../shared).</summary>
public sealed class Fp16SageLm30mPack : IDisposable
{
    private readonly TempDir _dir = TestAssets.NewTempDir();
    private readonly Lazy<string> _path;

    public Fp16SageLm30mPack() => _path = new(() =>
    {
        var r = CliRunner.Run("quantize", "--model", TestAssets.Shared("models", "sagelm-30m"), "--method", "fp16", "--out", _dir.Path);
        Assert.True(r.ExitCode == 0, r.Error);
        return _dir.Path;
    });

    public string Path => _path.Value;

    public void Dispose() => _dir.Dispose();
}

/// <summary>The fp16 pack of sagelm-30m on the CPU kernels reproduces transformers' greedy continuations.</summary>
public sealed class CpuModelGolden30mTests(Fp16SageLm30mPack fp16) : IClassFixture<Fp16SageLm30mPack>
{
    [SharedTheory, InlineData(0), InlineData(1), InlineData(2)]
    public void Fp16_pack_greedy_continuations_equal_the_goldens(int prompt)
    {
        var golden = GoldenPrompts.Load(GoldenPrompts.SageLm30mPath)[prompt];
        using var model = CpuModel.Open(fp16.Path);
        var options = GenerationOptions.Greedy with { MaxTokens = golden.GreedyIds.Length };
        Assert.Equal(golden.GreedyIds, TokenGenerator.Generate(model, golden.Ids, options).ToArray());
    }
}

/// <summary><see cref="CpuModel"/> against the reference forward pass and the goldens.</summary>
public sealed class CpuModelTests(Fp16SageLm7mPack fp16, ITestOutputHelper output) : IClassFixture<Fp16SageLm7mPack>
{
    [Theory, InlineData(0), InlineData(1), InlineData(2)]
    public void Fp16_pack_greedy_continuations_equal_the_goldens(int prompt)
    {
        var golden = GoldenPrompts.Load(GoldenPrompts.SageLm7mPath)[prompt];
        using var model = CpuModel.Open(fp16.Path, new CpuModelOptions { Threads = 2 });
        var options = GenerationOptions.Greedy with { MaxTokens = golden.GreedyIds.Length };
        Assert.Equal(golden.GreedyIds, TokenGenerator.Generate(model, golden.Ids, options).ToArray());
    }

    [Fact]
    public void Logits_follow_the_reference_forward_pass_of_the_same_pack()
    {
        using var pack = PackedModel.Open(fp16.Path);
        var reference = new ReferenceModel(pack.ToLlamaWeights());
        using var model = new CpuModel(pack, new CpuModelOptions { BatchSize = 8 });
        int[] tokens = [1, 450, 4996, 17354, 1701, 432, 17204, 975, 278, 17366, 11203, 29889, 13, 1576];
        tokens = tokens.Select(t => t % model.Config.VocabSize).ToArray();
        int vocab = model.Config.VocabSize;
        var expected = new float[tokens.Length * vocab];
        var actual = new float[tokens.Length * vocab];
        reference.Forward(tokens, 0, expected);
        model.Forward(tokens, 0, actual);
        float worst = 0;
        for (int i = 0; i < actual.Length; i++) worst = Math.Max(worst, Math.Abs(actual[i] - expected[i]));
        output.WriteLine($"max |cpu − reference| logit: {worst:E2}");
        // The only differences are the FP16 KV cache and the order of float sums.
        Assert.InRange(worst, 0, 2e-2f);
    }

    [Fact]
    public void Batches_of_any_size_and_any_thread_count_give_the_same_logits_as_one_token_at_a_time()
    {
        using var pack = PackedModel.Open(fp16.Path);
        int[] tokens = Enumerable.Range(0, 21).Select(i => (i * 37 + 1) % 4096).ToArray();
        int vocab = pack.Manifest.Architecture.VocabSize;
        float[] Run(int batch, int threads, bool oneByOne)
        {
            using var model = new CpuModel(pack, new CpuModelOptions { BatchSize = batch, Threads = threads });
            var logits = new float[tokens.Length * vocab];
            if (!oneByOne) model.Forward(tokens, 0, logits);
            else for (int t = 0; t < tokens.Length; t++) model.Forward(tokens[t], t).CopyTo(logits.AsSpan(t * vocab, vocab));
            return logits;
        }
        var single = Run(1, 1, oneByOne: true);
        Assert.Equal(single, Run(8, 2, oneByOne: false));
        Assert.Equal(single, Run(32, 2, oneByOne: false));
        Assert.Equal(single, Run(4, 1, oneByOne: true));
    }

    [Fact]
    public void Bad_positions_and_tokens_are_refused()
    {
        using var model = CpuModel.Open(fp16.Path, new CpuModelOptions { ContextLength = 8 });
        Assert.Equal(8, model.ContextLength);
        var tooLong = Assert.Throws<ArgumentException>(() => model.Prefill(new int[9]));
        Assert.Contains("go past the context of 8 positions", tooLong.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward(4096, 0));
        model.Prefill([1, 2, 3]);
        Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward(5, 4)); // position 3 was never run
        model.Dispose();
        Assert.Throws<ObjectDisposedException>(() => model.Forward(1, 0));
    }
}

/// <summary>The embedded sagelm-7m quantized data-free with <c>sage</c> and 4-bit embeddings: every decoder linear on the sign-plane kernel, the LM head on the uniform one.</summary>
public sealed class SageSageLm7mPack : IDisposable
{
    private readonly TempDir _dir = TestAssets.NewTempDir();

    public SageSageLm7mPack()
    {
        var r = CliRunner.Run("quantize", "--model", TestAssets.EmbeddedModel, "--method", "sage", "--embeddings", "4", "--out", Path);
        Assert.True(r.ExitCode == 0, r.Error);
    }

    public string Path => _dir.Path;

    public void Dispose() => _dir.Dispose();
}

/// <summary><c>sageptq eval --backend cpu</c> agrees with the reference path on the same pack.</summary>
public sealed class CpuEvalTests(Fp16SageLm7mPack fp16, SageSageLm7mPack sage, ITestOutputHelper output)
    : IClassFixture<Fp16SageLm7mPack>, IClassFixture<SageSageLm7mPack>
{
    [Theory]
    [InlineData("fp16")]
    [InlineData("sage")]
    public void Cpu_backend_perplexity_is_within_half_a_percent_of_the_reference(string pack)
    {
        string dir = pack == "fp16" ? fp16.Path : sage.Path;
        string[] common = ["eval", "--pack", dir, "--text", EmbeddingsOptionTests.Excerpt, "--seq", "128", "--max-windows", "8", "--json"];
        double reference = EmbeddingsOptionTests.Perplexity(CliRunner.Run(common));
        double cpu = EmbeddingsOptionTests.Perplexity(CliRunner.Run([.. common, "--backend", "cpu"]));
        output.WriteLine($"{pack}: reference {reference:F3}, cpu {cpu:F3} ({cpu / reference - 1:P3})");
        Assert.InRange(cpu / reference, 0.995, 1.005);
    }

    [Fact]
    public void A_sage_pack_runs_on_the_sign_plane_and_uniform_kernels()
    {
        using var model = CpuModel.Open(sage.Path);
        Assert.All(model.Linears.Where(l => l.Name.StartsWith("model.layers.", StringComparison.Ordinal)), l => Assert.IsType<SageCpuLinear>(l));
        Assert.All(model.Linears.Where(l => !l.Name.StartsWith("model.layers.", StringComparison.Ordinal)), l => Assert.IsType<UniformCpuLinear>(l));
    }

    [Fact]
    public void Cpu_backend_needs_a_pack()
    {
        var r = CliRunner.Run("eval", "--fp", "--model", TestAssets.EmbeddedModel, "--text", EmbeddingsOptionTests.Excerpt, "--backend", "cpu");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--backend cpu runs packs", r.Error);
    }
}
