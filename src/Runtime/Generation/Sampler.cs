namespace SagePtq.Runtime.Generation;

/// <summary>
/// Turns a step's logits into the next token id: repetition penalty → temperature → top-k →
/// softmax → top-p → a draw from the remaining tokens with a seeded <see cref="SplitMix64"/>.
/// Temperature 0 skips everything after the penalty and takes the argmax. Candidates are ordered
/// by logit and then by id, so a seed picks the same tokens on every runtime. One sampler serves
/// one sequence; it is not thread-safe.
/// </summary>
public sealed class Sampler
{
    private readonly GenerationOptions _options;
    private readonly HashSet<int> _penalized = [];
    private SplitMix64 _random;
    private float[] _scores = [];
    private Candidate[] _candidates = [];

    public Sampler(GenerationOptions options)
    {
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _random = new SplitMix64(options.Seed ?? (ulong)Random.Shared.NextInt64(long.MinValue, long.MaxValue));
    }

    /// <summary>Picks the next token.</summary>
    /// <param name="logits">The model's [vocab] logits for the next position.</param>
    /// <param name="history">The prompt and the tokens generated so far, for the repetition penalty.</param>
    public int Sample(ReadOnlySpan<float> logits, ReadOnlySpan<int> history)
    {
        if (_scores.Length != logits.Length) _scores = new float[logits.Length];
        var scores = _scores.AsSpan();
        logits.CopyTo(scores);

        // Repetition penalty: make every token seen so far less likely, once per distinct id.
        float penalty = _options.RepetitionPenalty;
        if (penalty != 1f)
        {
            _penalized.Clear();
            foreach (int id in history)
                if (_penalized.Add(id))
                    scores[id] = scores[id] > 0 ? scores[id] / penalty : scores[id] * penalty;
        }

        if (_options.Temperature == 0) return ArgMax(scores);

        // Temperature, then the candidates from most to least likely; top-k keeps the first k.
        var candidates = SortedCandidates(scores, 1f / _options.Temperature);
        if (_options.TopK > 0 && _options.TopK < candidates.Length) candidates = candidates[.._options.TopK];

        // Softmax over the survivors (largest first, so subtracting the first is the usual max shift).
        double total = 0;
        foreach (ref var c in candidates)
        {
            c.Weight = Math.Exp(c.Score - candidates[0].Score);
            total += c.Weight;
        }

        // Top-p: the shortest run of most-likely tokens whose probability reaches p (at least one).
        int kept = 0;
        double keptWeight = 0;
        while (kept < candidates.Length && (kept == 0 || keptWeight < _options.TopP * total))
            keptWeight += candidates[kept++].Weight;
        candidates = candidates[..kept];

        // Draw: walk the kept weights until a uniform point in [0, their sum) is passed.
        double point = _random.NextDouble() * keptWeight;
        foreach (var c in candidates)
        {
            point -= c.Weight;
            if (point < 0) return c.Id;
        }
        return candidates[^1].Id; // rounding left the point at the very end
    }

    /// <summary>The index of the largest score; the lowest such index on a tie, like <c>torch.argmax</c>.</summary>
    internal static int ArgMax(ReadOnlySpan<float> scores)
    {
        int best = 0;
        for (int i = 1; i < scores.Length; i++)
            if (scores[i] > scores[best]) best = i;
        return best;
    }

    private Span<Candidate> SortedCandidates(ReadOnlySpan<float> scores, float inverseTemperature)
    {
        if (_candidates.Length != scores.Length) _candidates = new Candidate[scores.Length];
        for (int id = 0; id < scores.Length; id++) _candidates[id] = new Candidate { Id = id, Score = scores[id] * inverseTemperature };
        var candidates = _candidates.AsSpan();
        candidates.Sort(static (a, b) => a.Score != b.Score ? b.Score.CompareTo(a.Score) : a.Id.CompareTo(b.Id));
        return candidates;
    }

    private struct Candidate
    {
        public int Id;
        public float Score;
        /// <summary>Unnormalised probability, exp(score − max score).</summary>
        public double Weight;
    }
}
