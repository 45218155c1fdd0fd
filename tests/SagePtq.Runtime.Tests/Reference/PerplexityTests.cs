using SagePtq.Runtime.Reference;
using SagePtq.Runtime.Tests.Generation;
using SagePtq.Tests;
using Xunit.Abstractions;

namespace SagePtq.Runtime.Tests.Reference;

public sealed class PerplexityTests(ITestOutputHelper output)
{
    [Fact]
    public void A_model_that_knows_nothing_has_perplexity_equal_to_the_vocabulary()
    {
        var uniform = new ScriptedModel((_, _) => new float[8]);
        var result = Perplexity.Evaluate(uniform, new int[100], windowLength: 10);
        Assert.Equal(8, result.Perplexity, 1e-9);
        Assert.Equal(Math.Log(8), result.MeanNll, 1e-12);
    }

    [Fact]
    public void Cuts_non_overlapping_windows_from_position_zero_and_drops_the_remainder()
    {
        var model = ScriptedModel.Deterministic(t => t);
        var tokens = Enumerable.Range(0, 35).Select(i => i % 8).ToArray();
        var reported = new List<int>();

        var result = Perplexity.Evaluate(model, tokens, windowLength: 10, progress: new SynchronousProgress(reported.Add));

        Assert.Equal(3, result.Windows);
        Assert.Equal(27, result.Predictions);
        Assert.Equal([0, 1, 2], reported);
        Assert.Equal(["reset", "batch 10@0 first 0", "reset", "batch 10@0 first 2", "reset", "batch 10@0 first 4"], model.Calls);
    }

    [Fact]
    public void Scores_each_position_on_the_token_that_follows_it()
    {
        // The model is sure the next token is (token + 1) mod 8: a counting stream is nearly free, a constant one is not.
        var model = ScriptedModel.Deterministic(t => (t + 1) % 8);
        var counting = Enumerable.Range(0, 20).Select(i => i % 8).ToArray();
        var constant = new int[20];
        double confident = -Math.Log(Math.Exp(5) / (Math.Exp(5) + 7));
        Assert.Equal(confident, Perplexity.Evaluate(model, counting, windowLength: 10).MeanNll, 1e-12);
        Assert.Equal(5 + confident, Perplexity.Evaluate(model, constant, windowLength: 10).MeanNll, 1e-12);
    }

    [Fact]
    public void Honours_max_windows_cancellation_and_rejects_short_streams()
    {
        var model = new ScriptedModel((_, _) => new float[8]);
        Assert.Equal(2, Perplexity.Evaluate(model, new int[100], windowLength: 10, maxWindows: 2).Windows);
        Assert.Throws<ArgumentException>(() => Perplexity.Evaluate(model, new int[9], windowLength: 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => Perplexity.Evaluate(model, new int[1000], windowLength: 65));
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.Throws<OperationCanceledException>(() => Perplexity.Evaluate(model, new int[100], windowLength: 10, cancellationToken: cancelled.Token));
    }

    [Fact]
    public void Log_softmax_in_double_matches_the_naive_formula()
    {
        var logits = GemmTests.Random(4096, seed: 3).Select(v => v * 30).ToArray();
        var probabilities = logits.ToArray();
        ReferenceOps.Softmax(probabilities);
        Assert.Equal(-Math.Log(probabilities[1234]), Perplexity.NegativeLogLikelihood(logits, 1234), 1e-5);
    }

    [SharedFact]
    public void Two_windows_of_the_test_text_give_sagelm_7m_a_plausible_perplexity()
    {
        var bytes = File.ReadAllBytes(TestAssets.Shared("reference", "test.sagelm-30m.ids.u16"));
        var tokens = new int[2 * Perplexity.DefaultWindowLength];
        for (int i = 0; i < tokens.Length; i++) tokens[i] = BitConverter.ToUInt16(bytes, 2 * i);

        var result = Perplexity.Evaluate(ReferenceModel.Load(TestAssets.EmbeddedModel), tokens);

        output.WriteLine($"sagelm-7m, 2 windows: perplexity {result.Perplexity:F3}");
        Assert.Equal(2 * 1023, result.Predictions);
        Assert.InRange(result.Perplexity, 25, 65); // 55.7 for these two windows, 40.88 over all 196
    }

    /// <summary>Reports on the calling thread (<see cref="Progress{T}"/> would post to the thread pool).</summary>
    private sealed class SynchronousProgress(Action<int> report) : IProgress<int>
    {
        public void Report(int value) => report(value);
    }
}
