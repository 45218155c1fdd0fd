using Microsoft.Extensions.AI;
using SagePtq.Runtime.Chat;
using SagePtq.Runtime.Generation;
using SagePtq.Runtime.Tests.Api;

namespace SagePtq.Runtime.Tests.Chat;

public sealed class LanguageModelChatClientTests
{
    private static readonly ChatMessage[] Conversation =
    [
        new(ChatRole.User, "Who decides the verdict?"),
        new(ChatRole.Assistant, "The jury."),
        new(ChatRole.User, "And who reads it?"),
    ];

    private const string RenderedConversation =
        "System: Answer briefly.\nUser: Who decides the verdict?\nAssistant: The jury.\nUser: And who reads it?\nAssistant:";

    private static readonly ChatOptions Options = new() { Instructions = "Answer briefly.", MaxOutputTokens = 24, Temperature = 0 };

    /// <summary>What the model generates for the rendered conversation with the options the client should derive.</summary>
    private static (string Text, GenerationSummary Summary) Expected(LanguageModel model, string prompt, GenerationOptions options)
    {
        var updates = model.Stream(prompt, options).ToList();
        return (string.Concat(updates.Select(u => u.Text)).TrimStart(), updates[^1].Summary!);
    }

    [Fact]
    public void The_plain_text_format_renders_a_transcript_that_ends_at_the_assistants_turn()
    {
        using var model = EmbeddedLanguageModel.Create();
        var client = new LanguageModelChatClient(model);
        Assert.Equal(RenderedConversation, client.RenderPrompt(Conversation, Options));
        Assert.Equal("User: Hi\nTool: 42\nAssistant:", PlainTextChatFormat.Instance.Render([new(ChatRole.User, "Hi"), new(ChatRole.Tool, "42")]));
        Assert.Equal("Assistant:", PlainTextChatFormat.Instance.Render([]));
        Assert.Equal(["\nUser:"], PlainTextChatFormat.Instance.StopSequences);
    }

    [Fact]
    public async Task The_response_is_the_models_continuation_of_the_rendered_conversation()
    {
        using var model = EmbeddedLanguageModel.Create();
        IChatClient client = model.AsIChatClient();
        var (text, summary) = Expected(model, RenderedConversation, GenerationOptions.Greedy with { MaxTokens = 24, StopSequences = ["\nUser:"] });

        var response = await client.GetResponseAsync(Conversation, Options);

        Assert.Equal(text, response.Text);
        Assert.NotEmpty(text);
        var message = Assert.Single(response.Messages);
        Assert.Equal(ChatRole.Assistant, message.Role);
        Assert.Equal(summary.FinishReason == FinishReason.Length ? ChatFinishReason.Length : ChatFinishReason.Stop, response.FinishReason);
        Assert.Equal(model.CountTokens(RenderedConversation), response.Usage!.InputTokenCount);
        Assert.Equal(summary.GeneratedTokenCount, response.Usage.OutputTokenCount);
        Assert.Equal(response.Usage.InputTokenCount + response.Usage.OutputTokenCount, response.Usage.TotalTokenCount);
        Assert.Equal("sagelm-7m", response.ModelId);
        Assert.NotNull(response.ResponseId);
    }

    [Fact]
    public async Task Streaming_updates_add_up_to_the_same_response()
    {
        using var model = EmbeddedLanguageModel.Create();
        IChatClient client = model.AsIChatClient();
        var whole = await client.GetResponseAsync(Conversation, Options);

        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in client.GetStreamingResponseAsync(Conversation, Options)) updates.Add(update);

        Assert.True(updates.Count(u => u.Text.Length > 0) > 1);
        Assert.Equal(whole.Text, string.Concat(updates.Select(u => u.Text)));
        Assert.All(updates, u => Assert.Equal(ChatRole.Assistant, u.Role));
        Assert.All(updates[..^1], u => Assert.Null(u.FinishReason));
        Assert.Equal(whole.FinishReason, updates[^1].FinishReason);
        var usage = Assert.IsType<UsageContent>(Assert.Single(updates[^1].Contents)).Details;
        Assert.Equal(whole.Usage!.OutputTokenCount, usage.OutputTokenCount);

        var combined = updates.ToChatResponse();
        Assert.Equal(whole.Text, combined.Text);
        Assert.Single(combined.Messages);
        Assert.Equal(whole.FinishReason, combined.FinishReason);
        Assert.Equal(whole.Usage.InputTokenCount, combined.Usage!.InputTokenCount);
        Assert.Equal("sagelm-7m", combined.ModelId);
    }

    [Fact]
    public async Task Stop_sequences_seeds_and_a_custom_format_are_honoured()
    {
        using var model = EmbeddedLanguageModel.Create();
        IChatClient client = model.AsIChatClient();
        string reply = (await client.GetResponseAsync(Conversation, Options)).Text;
        string[] words = reply.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(words.Length >= 2, reply);

        var stopped = await client.GetResponseAsync(Conversation, new ChatOptions
        {
            Instructions = Options.Instructions, MaxOutputTokens = 24, Temperature = 0, StopSequences = [" " + words[1]],
        });
        Assert.Equal(words[0], stopped.Text);
        Assert.Equal(ChatFinishReason.Stop, stopped.FinishReason);

        var seeded = new ChatOptions { MaxOutputTokens = 12, Temperature = 1.2f, TopK = 0, TopP = 1, Seed = -5 };
        var (expected, _) = Expected(model, "User: Who decides the verdict?\nAssistant:", new GenerationOptions
        {
            MaxTokens = 12, Temperature = 1.2f, TopK = 0, TopP = 1, Seed = unchecked((ulong)-5L), StopSequences = ["\nUser:"],
        });
        Assert.Equal(expected, (await client.GetResponseAsync([Conversation[0]], seeded)).Text);

        var qa = new QuestionAnswerFormat();
        var custom = model.AsIChatClient(qa, GenerationOptions.Greedy with { MaxTokens = 16 });
        var (qaExpected, _) = Expected(model, "Q: Who decides the verdict?\nA:", GenerationOptions.Greedy with { MaxTokens = 16, StopSequences = ["\nQ:"] });
        Assert.Equal(qaExpected, (await custom.GetResponseAsync([Conversation[0]])).Text);
    }

    [Fact]
    public void Options_map_what_they_can_and_fill_the_rest_from_the_defaults()
    {
        var defaults = GenerationOptions.Greedy with { MaxTokens = 100, RepetitionPenalty = 1.1f, StopSequences = ["END"] };

        var none = ChatOptionsMapping.ToGenerationOptions(null, defaults, ["\nUser:"], promptTokens: 10, contextLength: 2048);
        Assert.Equal(defaults with { StopSequences = none.StopSequences }, none);
        Assert.Equal(["END", "\nUser:"], none.StopSequences);

        var all = ChatOptionsMapping.ToGenerationOptions(new ChatOptions
        {
            MaxOutputTokens = 7, Temperature = 0.5f, TopK = 3, TopP = 0.9f, Seed = 42, StopSequences = ["!"], FrequencyPenalty = 2, PresencePenalty = 2,
        }, defaults, ["\nUser:"], 10, 2048);
        Assert.Equal((7, 0.5f, 3, 0.9f, 42UL, 1.1f), (all.MaxTokens, all.Temperature, all.TopK, all.TopP, all.Seed!.Value, all.RepetitionPenalty));
        Assert.Equal(["END", "\nUser:", "!"], all.StopSequences);

        // Without MaxOutputTokens the reply gets at most what the context leaves.
        Assert.Equal(48, ChatOptionsMapping.ToGenerationOptions(new ChatOptions(), defaults, [], promptTokens: 2000, contextLength: 2048).MaxTokens);
        Assert.Equal(0, ChatOptionsMapping.ToGenerationOptions(null, defaults, [], promptTokens: 3000, contextLength: 2048).MaxTokens);
    }

    [Fact]
    public async Task Bad_requests_fail_clearly()
    {
        using var model = EmbeddedLanguageModel.Create();
        IChatClient client = model.AsIChatClient();
        Assert.Throws<ArgumentOutOfRangeException>(() => client.GetStreamingResponseAsync(Conversation, new ChatOptions { Temperature = -1 }));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => client.GetResponseAsync(Conversation, new ChatOptions { TopP = 0 }));
        var tooLong = await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync(Conversation, new ChatOptions { MaxOutputTokens = 5000 }));
        Assert.Contains("2048 positions", tooLong.Message);
        Assert.Throws<ArgumentNullException>(() => client.GetStreamingResponseAsync(null!));
        Assert.Throws<ArgumentNullException>(() => new LanguageModelChatClient(null!));
    }

    [Fact]
    public void GetService_answers_metadata_the_client_and_the_model()
    {
        using var model = EmbeddedLanguageModel.Create();
        IChatClient client = model.AsIChatClient();

        var metadata = client.GetService<ChatClientMetadata>();
        Assert.Equal("sageptq", metadata!.ProviderName);
        Assert.Equal("sagelm-7m", metadata.DefaultModelId);
        Assert.Same(client, client.GetService<IChatClient>());
        Assert.Same(client, client.GetService<LanguageModelChatClient>());
        Assert.Same(model, client.GetService<LanguageModel>());
        Assert.Null(client.GetService<IChatClient>("some key"));
        Assert.Null(client.GetService<SagePtq.Runtime.Tokenization.Tokenizer>());
        Assert.Throws<ArgumentNullException>(() => client.GetService(null!));

        client.Dispose();                       // the client does not own the model
        Assert.NotEmpty(model.Generate("Hi", GenerationOptions.Greedy with { MaxTokens = 3, StopAtEos = false }));
    }

    /// <summary>A replacement format, to show the client uses whatever format it is given.</summary>
    private sealed class QuestionAnswerFormat : IChatPromptFormat
    {
        public IReadOnlyList<string> StopSequences { get; } = ["\nQ:"];

        public string Render(IReadOnlyList<ChatMessage> messages) =>
            string.Concat(messages.Select(m => (m.Role == ChatRole.User ? "Q: " : "A: ") + m.Text + "\n")) + "A:";
    }
}
