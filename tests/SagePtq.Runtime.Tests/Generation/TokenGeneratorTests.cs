using SagePtq.Runtime.Generation;

namespace SagePtq.Runtime.Tests.Generation;

public sealed class TokenGeneratorTests
{
    [Fact]
    public void Prefills_the_prompt_once_then_decodes_one_token_per_step()
    {
        var model = ScriptedModel.Deterministic(t => (t + 1) % 8);
        var ids = TokenGenerator.Generate(model, [1, 5], GenerationOptions.Greedy with { MaxTokens = 3, StopAtEos = false }).ToArray();

        Assert.Equal([6, 7, 0], ids);
        Assert.Equal(["reset", "prefill 2@0", "forward 6@2", "forward 7@3"], model.Calls);
    }

    [Fact]
    public void Greedy_decoding_lets_a_model_that_can_pick_the_token_itself_and_sampling_reads_the_logits()
    {
        var greedy = new ScriptedGreedyModel(ScriptedModel.Deterministic(t => (t + 1) % 8));
        Assert.Equal([6, 7, 0], TokenGenerator.Generate(greedy, [1, 5], GenerationOptions.Greedy with { MaxTokens = 3, StopAtEos = false }).ToArray());
        // The prompt's logits still come back once; each decode step is the model's own argmax (with "forward" inside it).
        Assert.Equal(["reset", "prefill 2@0", "greedy 6@2", "forward 6@2", "greedy 7@3", "forward 7@3"], greedy.Calls);

        // A repetition penalty or a temperature reads the logits: no greedy calls.
        foreach (var options in new[] { GenerationOptions.Greedy with { RepetitionPenalty = 1.3f }, GenerationOptions.Greedy with { Temperature = 0.7f, Seed = 1 } })
        {
            var model = new ScriptedGreedyModel(ScriptedModel.Deterministic(t => (t + 1) % 8));
            TokenGenerator.Generate(model, [1, 5], options with { MaxTokens = 3, StopAtEos = false }).ToArray();
            Assert.DoesNotContain(model.Calls, c => c.StartsWith("greedy", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Stops_at_eos_without_returning_it()
    {
        var model = ScriptedModel.Deterministic(t => t == 4 ? 2 : t + 1); // ... 3, 4, then EOS (id 2)
        Assert.Equal([4], TokenGenerator.Generate(model, [1, 3], GenerationOptions.Greedy with { MaxTokens = 10 }).ToArray());
        Assert.Equal([4, 2, 3, 4, 2], TokenGenerator.Generate(model, [1, 3], GenerationOptions.Greedy with { MaxTokens = 5, StopAtEos = false }).ToArray());
    }

    [Fact]
    public void Is_lazy_so_the_caller_can_stop_after_any_token()
    {
        var model = ScriptedModel.Deterministic(t => (t + 1) % 8);
        var generation = TokenGenerator.Generate(model, [1], GenerationOptions.Greedy with { MaxTokens = 50, StopAtEos = false });
        Assert.Empty(model.Calls);
        Assert.Equal([2, 3], generation.Take(2).ToArray());
        Assert.Equal(["reset", "prefill 1@0", "forward 2@1"], model.Calls);
    }

    [Fact]
    public void Rejects_prompts_that_leave_no_room_and_empty_prompts_at_once()
    {
        var model = ScriptedModel.Deterministic(t => t, maxPositions: 16);
        var error = Assert.Throws<ArgumentException>(() => TokenGenerator.Generate(model, new int[10], GenerationOptions.Greedy with { MaxTokens = 7 }));
        Assert.Contains("16 positions", error.Message);
        Assert.Throws<ArgumentException>(() => TokenGenerator.Generate(model, [], GenerationOptions.Greedy));
        Assert.Equal(6, TokenGenerator.Generate(model, new int[10], GenerationOptions.Greedy with { MaxTokens = 6, StopAtEos = false }).Count());
    }

    [Fact]
    public void Max_tokens_zero_generates_nothing_and_cancellation_stops_between_tokens()
    {
        var model = ScriptedModel.Deterministic(t => (t + 1) % 8);
        Assert.Empty(TokenGenerator.Generate(model, [1], GenerationOptions.Greedy with { MaxTokens = 0 }));
        Assert.Empty(model.Calls);

        using var cancellation = new CancellationTokenSource();
        var taken = new List<int>();
        Assert.Throws<OperationCanceledException>(() =>
        {
            foreach (int id in TokenGenerator.Generate(model, [1], GenerationOptions.Greedy with { MaxTokens = 10, StopAtEos = false }, cancellation.Token))
            {
                taken.Add(id);
                cancellation.Cancel();
            }
        });
        Assert.Equal([2], taken);
    }
}
