using SagePtq.Runtime.Generation;
using SagePtq.Runtime.Tests.Generation;
using SagePtq.Runtime.Tests.Tokenization;
using static SagePtq.Runtime.Tests.Api.EmbeddedLanguageModel;

namespace SagePtq.Runtime.Tests.Api;

public sealed class LanguageModelGenerationTests
{
    [Fact]
    public void Greedy_generate_gives_the_golden_continuation()
    {
        using var model = Create();
        Assert.Equal(GoldenContinuation, model.Generate(Golden.Prompt, GoldenOptions));
        // Again on the same instance: the cache of the first generation does not leak into the second.
        Assert.Equal(GoldenContinuation, model.Generate(Golden.Prompt, GoldenOptions));
    }

    [Fact]
    public async Task GenerateAsync_streams_several_pieces_that_concatenate_to_Generate()
    {
        using var model = Create();
        var pieces = new List<string>();
        await foreach (string piece in model.GenerateAsync(Golden.Prompt, GoldenOptions)) pieces.Add(piece);

        Assert.True(pieces.Count > 1, $"{pieces.Count} piece(s)");
        Assert.All(pieces, p => Assert.NotEmpty(p));
        Assert.Equal(GoldenContinuation, string.Concat(pieces));
    }

    [Fact]
    public async Task Streams_end_with_one_summary_of_counts_ids_and_reason()
    {
        using var model = Create();
        var updates = model.Stream(Golden.Prompt, GoldenOptions).ToList();
        var asyncUpdates = new List<GenerationUpdate>();
        await foreach (var update in model.StreamAsync(Golden.Prompt, GoldenOptions)) asyncUpdates.Add(update);

        foreach (var stream in new[] { updates, asyncUpdates })
        {
            Assert.All(stream[..^1], u => { Assert.NotEmpty(u.Text); Assert.Null(u.Summary); });
            Assert.Equal("", stream[^1].Text);
            var summary = stream[^1].Summary!;
            Assert.Equal(Golden.Ids.Length, summary.PromptTokenCount);
            Assert.Equal(Golden.GreedyIds, summary.GeneratedIds);
            Assert.Equal(40, summary.GeneratedTokenCount);
            Assert.Equal(FinishReason.Length, summary.FinishReason);
            Assert.Equal(GoldenContinuation, string.Concat(stream.Select(u => u.Text)));
        }
    }

    [Fact]
    public async Task Stops_before_a_stop_sequence()
    {
        string[] words = Golden.GreedyText.Split(' ');
        var options = GoldenOptions with { StopSequences = [words[3]] };
        using var model = Create();

        Assert.Equal($" {string.Join(' ', words.Take(3))} ", model.Generate(Golden.Prompt, options));
        var last = (await model.StreamAsync(Golden.Prompt, options).ToListAsync())[^1];
        Assert.Equal(FinishReason.StopSequence, last.Summary!.FinishReason);
    }

    [Fact]
    public void Null_options_mean_the_documented_defaults()
    {
        Assert.Equal(new GenerationOptions(), LanguageModel.DefaultOptions);
        using var model = Create();
        // Seeded so both calls sample the same way; the defaults are otherwise random.
        var seeded = LanguageModel.DefaultOptions with { Seed = 11, MaxTokens = 12 };
        Assert.Equal(model.Generate("Once upon a time", seeded), model.Generate("Once upon a time", seeded));
        // Null is accepted; the first piece is enough to see it runs (the default is 256 tokens).
        Assert.NotEmpty(model.Stream("Once upon a time", null).First().Text);
    }

    [Fact]
    public void A_prompt_longer_than_the_context_is_an_ArgumentException_at_the_call()
    {
        using var model = Create();
        string prompt = string.Join(' ', Enumerable.Repeat("word", model.ContextLength));
        Assert.True(model.CountTokens(prompt) > model.ContextLength);

        foreach (var call in new Action[]
        {
            () => model.Generate(prompt, GoldenOptions),
            () => model.Stream(prompt, GoldenOptions),          // not enumerated: the check is eager
            () => model.StreamAsync(prompt, GoldenOptions),
            () => model.GenerateAsync(prompt, GoldenOptions),
            () => model.Generate("Hi", GoldenOptions with { MaxTokens = model.ContextLength }),
        })
        {
            var error = Assert.Throws<ArgumentException>(call);
            Assert.Contains($"{model.ContextLength} positions", error.Message);
        }
        Assert.Throws<ArgumentNullException>(() => model.Generate(null!));
        Assert.Throws<ArgumentNullException>(() => model.GenerateAsync(null!));
        // The instance is still fine.
        Assert.Equal(GoldenContinuation, model.Generate(Golden.Prompt, GoldenOptions));
    }

    [Fact]
    public void Exposes_the_tokenizer_the_config_and_token_counts()
    {
        using var model = Create();
        Assert.Same(EmbeddedTokenizerTests.Embedded, model.Tokenizer);
        Assert.Equal(256, model.Config.HiddenSize);
        Assert.Equal(2048, model.ContextLength);
        Assert.Equal("sagelm-7m", model.ModelId);
        Assert.Equal(Golden.Ids.Length, model.CountTokens(Golden.Prompt));
        Assert.Equal(1, model.CountTokens(""));
    }

    [Fact]
    public void A_tokenizer_larger_than_the_models_vocabulary_is_refused()
    {
        var small = ScriptedModel.Deterministic(t => t, vocab: 8);
        var error = Assert.Throws<ArgumentException>(() => new LanguageModel(small, EmbeddedTokenizerTests.Embedded));
        Assert.Contains("4096 tokens", error.Message);
        Assert.Throws<ArgumentNullException>(() => new LanguageModel(null!, EmbeddedTokenizerTests.Embedded));
        Assert.Throws<ArgumentNullException>(() => new LanguageModel(small, null!));
    }
}
