using System.Numerics.Tensors;
using SagePtq.Runtime.Generation;
using SagePtq.Runtime.Reference;
using SagePtq.Tests;
using Xunit.Abstractions;

namespace SagePtq.Runtime.Tests.Reference;

/// <summary>
/// The reference forward pass against transformers' logits on each model's three golden prompts,
/// through both entry points: the batched window and the single-token decoding step.
/// </summary>
public abstract class GoldenTests(ITestOutputHelper output)
{
    /// <summary>The brief's bound on |ours − transformers| for the last position's logits.</summary>
    private const float LogitTolerance = 2e-3f;

    private protected abstract ReferenceModel Model { get; }
    private protected abstract IReadOnlyList<GoldenPrompt> Prompts { get; }

    protected void BatchedForwardMatchesTransformers(int prompt)
    {
        var golden = Prompts[prompt];
        int vocab = Model.Config.VocabSize;
        var logits = new float[golden.Ids.Length * vocab];

        Model.Reset();
        Model.Forward(golden.Ids, 0, logits);

        var argmax = Enumerable.Range(0, golden.Ids.Length)
            .Select(t => TensorPrimitives.IndexOfMax(logits.AsSpan(t * vocab, vocab))).ToArray();
        Assert.Equal(golden.ArgmaxPerPosition, argmax);
        float maxDifference = MaxAbsDifference(logits.AsSpan((golden.Ids.Length - 1) * vocab), golden.LastLogits);
        output.WriteLine($"max |logit − golden| at the last position: {maxDifference:E2}");
        Assert.InRange(maxDifference, 0, LogitTolerance);
    }

    protected void SingleTokenPathMatchesBatchedAndGreedyGolden(int prompt)
    {
        var golden = Prompts[prompt];
        int vocab = Model.Config.VocabSize;
        var batched = new float[golden.Ids.Length * vocab];
        Model.Reset();
        Model.Forward(golden.Ids, 0, batched);

        // Feed the prompt one token at a time; each step must equal the batched row.
        Model.Reset();
        for (int t = 0; t < golden.Ids.Length; t++)
            Assert.InRange(MaxAbsDifference(Model.Forward(golden.Ids[t], t), batched.AsSpan(t * vocab, vocab)), 0, 1e-4f);

        // Then the greedy continuation, one decoding step per token.
        var greedy = new List<int>();
        var logits = Model.Forward(golden.Ids[^1], golden.Ids.Length - 1);
        while (greedy.Count < golden.GreedyIds.Length)
        {
            greedy.Add(Sampler.ArgMax(logits));
            logits = Model.Forward(greedy[^1], golden.Ids.Length + greedy.Count - 1);
        }
        Assert.Equal(golden.GreedyIds, greedy);
    }

    protected void GreedyGenerationMatchesGolden(int prompt)
    {
        var golden = Prompts[prompt];
        var options = GenerationOptions.Greedy with { MaxTokens = golden.GreedyIds.Length };
        Assert.Equal(golden.GreedyIds, TokenGenerator.Generate(Model, golden.Ids, options).ToArray());
    }

    internal static float MaxAbsDifference(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.Equal(b.Length, a.Length);
        float max = 0;
        for (int i = 0; i < a.Length; i++) max = Math.Max(max, Math.Abs(a[i] - b[i]));
        return max;
    }
}

/// <summary>Loads a model once for all the tests of one class.</summary>
public sealed class SageLm7mFixture
{
    internal ReferenceModel Model { get; } = ReferenceModel.Load(TestAssets.EmbeddedModel);
    internal IReadOnlyList<GoldenPrompt> Prompts { get; } = GoldenPrompts.Load(GoldenPrompts.SageLm7mPath);
}

/// <summary>Loads sagelm-30m once, when ../shared is present.</summary>
public sealed class SageLm30mFixture
{
    private readonly Lazy<ReferenceModel> _model = new(() => ReferenceModel.Load(TestAssets.Shared("models", "sagelm-30m")));
    private readonly Lazy<IReadOnlyList<GoldenPrompt>> _prompts = new(() => GoldenPrompts.Load(GoldenPrompts.SageLm30mPath));
    internal ReferenceModel Model => _model.Value;
    internal IReadOnlyList<GoldenPrompt> Prompts => _prompts.Value;
}

/// <summary>sagelm-7m: in the repository, and the grouped-query-attention case (4 heads, 2 KV heads).</summary>
public sealed class SageLm7mGoldenTests(SageLm7mFixture fixture, ITestOutputHelper output)
    : GoldenTests(output), IClassFixture<SageLm7mFixture>
{
    private protected override ReferenceModel Model => fixture.Model;
    private protected override IReadOnlyList<GoldenPrompt> Prompts => fixture.Prompts;

    [Theory, InlineData(0), InlineData(1), InlineData(2)]
    public void Batched_forward_matches_transformers(int prompt) => BatchedForwardMatchesTransformers(prompt);

    [Theory, InlineData(0), InlineData(1), InlineData(2)]
    public void Single_token_path_matches_batched_and_greedy_golden(int prompt) => SingleTokenPathMatchesBatchedAndGreedyGolden(prompt);

    [Theory, InlineData(0), InlineData(1), InlineData(2)]
    public void Greedy_generation_matches_golden(int prompt) => GreedyGenerationMatchesGolden(prompt);
}

/// <summary>sagelm-30m: the model every figure of the project is measured on.</summary>
public sealed class SageLm30mGoldenTests(SageLm30mFixture fixture, ITestOutputHelper output)
    : GoldenTests(output), IClassFixture<SageLm30mFixture>
{
    private protected override ReferenceModel Model => fixture.Model;
    private protected override IReadOnlyList<GoldenPrompt> Prompts => fixture.Prompts;

    [SharedTheory, InlineData(0), InlineData(1), InlineData(2)]
    public void Batched_forward_matches_transformers(int prompt) => BatchedForwardMatchesTransformers(prompt);

    [SharedTheory, InlineData(0), InlineData(1), InlineData(2)]
    public void Single_token_path_matches_batched_and_greedy_golden(int prompt) => SingleTokenPathMatchesBatchedAndGreedyGolden(prompt);

    [SharedTheory, InlineData(0), InlineData(1), InlineData(2)]
    public void Greedy_generation_matches_golden(int prompt) => GreedyGenerationMatchesGolden(prompt);
}
