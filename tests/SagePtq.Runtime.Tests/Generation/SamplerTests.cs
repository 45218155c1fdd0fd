using SagePtq.Runtime.Generation;

namespace SagePtq.Runtime.Tests.Generation;

public sealed class SamplerTests
{
    private static readonly float[] Logits = RandomLogits(512, seed: 5);

    [Fact]
    public void Temperature_zero_takes_the_argmax_and_the_first_of_equal_maxima()
    {
        var greedy = new Sampler(GenerationOptions.Greedy);
        Assert.Equal(Array.IndexOf(Logits, Logits.Max()), greedy.Sample(Logits, []));
        Assert.Equal(1, greedy.Sample([0f, 3f, 1f, 3f], []));
    }

    [Fact]
    public void The_same_seed_draws_the_same_tokens_and_different_seeds_do_not()
    {
        var a = Draws(new GenerationOptions { Seed = 42, TopK = 0, TopP = 1, Temperature = 1.5f });
        var b = Draws(new GenerationOptions { Seed = 42, TopK = 0, TopP = 1, Temperature = 1.5f });
        var c = Draws(new GenerationOptions { Seed = 43, TopK = 0, TopP = 1, Temperature = 1.5f });
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.True(a.Distinct().Count() > 10, "a hot sampler over 512 tokens should not repeat itself");
    }

    [Fact]
    public void Seeded_draws_do_not_depend_on_the_runtime()
    {
        // Pinned from an independent SplitMix64 (seed 1): with four equal logits each draw is floor(4u).
        float[] logits = [0f, 0f, 0f, 0f];
        var sampler = new Sampler(new GenerationOptions { Seed = 1, Temperature = 1, TopK = 0, TopP = 1 });
        Assert.Equal([2, 2, 3, 1, 1, 3, 3, 2], Enumerable.Range(0, 8).Select(_ => sampler.Sample(logits, [])).ToArray());
    }

    [Fact]
    public void Top_k_of_one_and_a_tiny_top_p_both_reduce_to_greedy()
    {
        int greedy = new Sampler(GenerationOptions.Greedy).Sample(Logits, []);
        Assert.All(Draws(new GenerationOptions { Seed = 1, Temperature = 5, TopK = 1, TopP = 1 }), id => Assert.Equal(greedy, id));
        Assert.All(Draws(new GenerationOptions { Seed = 1, Temperature = 5, TopK = 0, TopP = 1e-6f }), id => Assert.Equal(greedy, id));
    }

    [Fact]
    public void Top_k_draws_only_among_the_k_most_likely()
    {
        var topThree = Logits.Select((v, id) => (v, id)).OrderByDescending(p => p.v).Take(3).Select(p => p.id).ToHashSet();
        var draws = Draws(new GenerationOptions { Seed = 9, Temperature = 100, TopK = 3, TopP = 1 });
        Assert.Subset(topThree, draws.ToHashSet());
        Assert.Equal(3, draws.Distinct().Count());
    }

    [Fact]
    public void Draws_follow_the_softmax_probabilities()
    {
        float[] logits = [MathF.Log(0.7f), MathF.Log(0.2f), MathF.Log(0.1f)];
        var sampler = new Sampler(new GenerationOptions { Seed = 3, Temperature = 1, TopK = 0, TopP = 1 });
        var counts = new int[3];
        for (int i = 0; i < 20_000; i++) counts[sampler.Sample(logits, [])]++;
        Assert.Equal(0.7, counts[0] / 20_000.0, 0.02);
        Assert.Equal(0.2, counts[1] / 20_000.0, 0.02);
    }

    [Fact]
    public void Top_p_keeps_the_shortest_run_that_reaches_p()
    {
        float[] logits = [MathF.Log(0.5f), MathF.Log(0.3f), MathF.Log(0.2f)];
        var draws = Draws(new GenerationOptions { Seed = 4, Temperature = 1, TopK = 0, TopP = 0.75f }, logits, 2000);
        Assert.DoesNotContain(2, draws); // 0.5 + 0.3 reaches 0.75 before the third token
        Assert.Contains(1, draws);
    }

    [Fact]
    public void Repetition_penalty_divides_positive_logits_and_multiplies_negative_ones()
    {
        var penalized = new Sampler(GenerationOptions.Greedy with { RepetitionPenalty = 1.5f });
        // Token 0 (2.0) was already seen: 2.0 / 1.5 = 1.33 < 1.9, so token 1 wins.
        Assert.Equal(0, new Sampler(GenerationOptions.Greedy).Sample([2.0f, 1.9f, -1f], [0]));
        Assert.Equal(1, penalized.Sample([2.0f, 1.9f, -1f], [0, 0, 0]));
        // A negative logit is pushed further down: −1 × 1.5 = −1.5 < −1.4.
        Assert.Equal(1, penalized.Sample([-1.0f, -1.4f], [0]));
        Assert.Equal(0, new Sampler(GenerationOptions.Greedy).Sample([-1.0f, -1.4f], [0]));
    }

    private static int[] Draws(GenerationOptions options, float[]? logits = null, int count = 200)
    {
        var sampler = new Sampler(options);
        return Enumerable.Range(0, count).Select(_ => sampler.Sample(logits ?? Logits, [])).ToArray();
    }

    private static float[] RandomLogits(int vocab, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, vocab).Select(_ => (float)(random.NextDouble() * 10 - 5)).ToArray();
    }
}
