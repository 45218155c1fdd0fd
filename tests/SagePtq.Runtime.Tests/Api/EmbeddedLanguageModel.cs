using SagePtq.Runtime.Checkpoints;
using SagePtq.Runtime.Generation;
using SagePtq.Runtime.Reference;
using SagePtq.Runtime.Tests.Tokenization;
using SagePtq.Tests;

namespace SagePtq.Runtime.Tests.Api;

/// <summary>LanguageModel instances over the embedded sagelm-7m (weights read once, a fresh cache per instance).</summary>
internal static class EmbeddedLanguageModel
{
    private static readonly Lazy<LlamaWeights> Weights = new(() =>
    {
        using var checkpoint = Checkpoint.Open(TestAssets.EmbeddedModel);
        return LlamaWeights.FromCheckpoint(checkpoint);
    });

    /// <summary>The second golden prompt: its greedy continuation of 40 tokens is known.</summary>
    public static GoldenPrompt Golden { get; } = GoldenPrompts.Load(GoldenPrompts.SageLm7mPath)[1];

    /// <summary>Greedy, 40 tokens: gives <see cref="GoldenContinuation"/> for <see cref="Golden"/>.</summary>
    public static GenerationOptions GoldenOptions { get; } = GenerationOptions.Greedy with { MaxTokens = 40 };

    /// <summary>The continuation keeps the space that joins it to the prompt; the golden text was decoded alone.</summary>
    public static string GoldenContinuation => " " + Golden.GreedyText;

    public static LanguageModel Create(IDisposable? owner = null) => new(Forward(), EmbeddedTokenizerTests.Embedded, owner, "sagelm-7m");

    public static ReferenceModel Forward() => new(Weights.Value);
}

/// <summary>Counts disposals, to see when a LanguageModel releases what it owns.</summary>
internal sealed class DisposalProbe : IDisposable
{
    public int Disposals;
    public void Dispose() => Interlocked.Increment(ref Disposals);
}

/// <summary>
/// Passes every call to a real model and records the most calls that were ever inside it at once,
/// so a test can see that generations never overlap on one cache. Optionally runs a callback at
/// each decode step (to cancel or dispose from inside a generation at a known point).
/// </summary>
internal sealed class OverlapProbe(ICausalLanguageModel inner) : ICausalLanguageModel
{
    private int _inside;
    public int MaxInside;
    public int Steps;
    public Action<int>? OnStep;
    /// <summary>Ids of the threads that ran decode steps.</summary>
    public System.Collections.Concurrent.ConcurrentBag<int> StepThreads { get; } = [];

    public ModelConfig Config => inner.Config;

    public ReadOnlySpan<float> Forward(int token, int position)
    {
        Enter();
        try
        {
            OnStep?.Invoke(Interlocked.Increment(ref Steps));
            StepThreads.Add(Environment.CurrentManagedThreadId);
            Thread.Yield(); // widen the window in which an unguarded second caller would overlap
            return inner.Forward(token, position);
        }
        finally { Interlocked.Decrement(ref _inside); }
    }

    public void Forward(ReadOnlySpan<int> tokens, int startPosition, Span<float> logits)
    {
        Enter();
        try { inner.Forward(tokens, startPosition, logits); }
        finally { Interlocked.Decrement(ref _inside); }
    }

    public ReadOnlySpan<float> Prefill(ReadOnlySpan<int> tokens, int startPosition = 0)
    {
        Enter();
        try
        {
            Thread.Yield();
            return inner.Prefill(tokens, startPosition);
        }
        finally { Interlocked.Decrement(ref _inside); }
    }

    public void Reset()
    {
        Enter();
        try { inner.Reset(); }
        finally { Interlocked.Decrement(ref _inside); }
    }

    private void Enter()
    {
        int now = Interlocked.Increment(ref _inside);
        int seen;
        while (now > (seen = Volatile.Read(ref MaxInside)) && Interlocked.CompareExchange(ref MaxInside, now, seen) != seen) { }
    }
}
