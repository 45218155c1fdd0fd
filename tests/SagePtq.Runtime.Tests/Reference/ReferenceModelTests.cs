using SagePtq.Runtime.Reference;

namespace SagePtq.Runtime.Tests.Reference;

/// <summary>
/// The two entry points agree over sequences long enough to cross attention blocks, and the
/// cache rules hold. Uses sagelm-7m (grouped-query attention).
/// </summary>
public sealed class ReferenceModelTests(SageLm7mFixture fixture) : IClassFixture<SageLm7mFixture>
{
    private readonly ReferenceModel _model = fixture.Model;

    [Fact]
    public void Token_by_token_equals_one_batch_over_150_positions()
    {
        var tokens = RandomTokens(150);
        var batched = BatchedLogits(tokens);
        int vocab = _model.Config.VocabSize;

        _model.Reset();
        float worst = 0;
        for (int t = 0; t < tokens.Length; t++)
            worst = Math.Max(worst, GoldenTests.MaxAbsDifference(_model.Forward(tokens[t], t), batched.AsSpan(t * vocab, vocab)));
        Assert.InRange(worst, 0, 1e-4f);
    }

    [Fact]
    public void Prefill_then_batched_continuation_equals_one_batch()
    {
        var tokens = RandomTokens(150);
        var expected = BatchedLogits(tokens);
        int vocab = _model.Config.VocabSize;

        _model.Reset();
        var last = _model.Prefill(tokens.AsSpan(0, 37)).ToArray();
        var rest = new float[(tokens.Length - 37) * vocab];
        _model.Forward(tokens.AsSpan(37), 37, rest);

        Assert.InRange(GoldenTests.MaxAbsDifference(last, expected.AsSpan(36 * vocab, vocab)), 0, 1e-4f);
        Assert.InRange(GoldenTests.MaxAbsDifference(rest, expected.AsSpan(37 * vocab)), 0, 1e-4f);
        Assert.Equal(150, _model.CachedPositions);
    }

    [Fact]
    public void Restarting_at_an_earlier_position_overwrites_the_cache()
    {
        var tokens = RandomTokens(20);
        _model.Reset();
        _model.Prefill(RandomTokens(20, seed: 99));
        var rewritten = _model.Prefill(tokens).ToArray();
        var fresh = BatchedLogits(tokens).AsSpan(19 * _model.Config.VocabSize);
        Assert.InRange(GoldenTests.MaxAbsDifference(rewritten, fresh), 0, 1e-5f);
    }

    [Fact]
    public void Rejects_gaps_bad_ids_and_positions_past_the_end()
    {
        _model.Reset();
        Assert.Throws<ArgumentOutOfRangeException>(() => _model.Forward(5, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => _model.Forward(_model.Config.VocabSize, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => _model.Forward(-1, 0));
        Assert.Throws<ArgumentException>(() => _model.Forward(new int[3], 0, new float[5]));
        _model.Prefill(new int[_model.Config.MaxPositionEmbeddings - 1]);
        _model.Forward(1, _model.Config.MaxPositionEmbeddings - 1);
        Assert.Throws<ArgumentException>(() => _model.Prefill([1, 2], _model.Config.MaxPositionEmbeddings - 1));
    }

    private float[] BatchedLogits(int[] tokens)
    {
        var logits = new float[tokens.Length * _model.Config.VocabSize];
        _model.Reset();
        _model.Forward(tokens, 0, logits);
        return logits;
    }

    private int[] RandomTokens(int count, int seed = 7)
    {
        var random = new Random(seed);
        return [1, .. Enumerable.Range(1, count - 1).Select(_ => random.Next(3, _model.Config.VocabSize))];
    }
}
