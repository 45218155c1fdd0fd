using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.AI;
using SagePtq.Runtime.Generation;

namespace SagePtq.Runtime.Chat;

/// <summary>
/// A <see cref="LanguageModel"/> as a Microsoft.Extensions.AI <see cref="IChatClient"/>. The
/// conversation is rendered by an <see cref="IChatPromptFormat"/> (by default
/// <see cref="PlainTextChatFormat"/>, a plain transcript for base models), the model continues it,
/// and the continuation, without its leading whitespace and cut before the format's stop
/// sequences, is the assistant's reply.
/// </summary>
/// <remarks>
/// <para><b>Options.</b> Of <see cref="ChatOptions"/>, these are honoured: <see cref="ChatOptions.Instructions"/>
/// (a system message placed first), <see cref="ChatOptions.MaxOutputTokens"/> (without it: the
/// default limit or what the context leaves, whichever is smaller), <see cref="ChatOptions.Temperature"/>,
/// <see cref="ChatOptions.TopK"/>, <see cref="ChatOptions.TopP"/>, <see cref="ChatOptions.Seed"/> and
/// <see cref="ChatOptions.StopSequences"/> (added to the format's). Everything else is ignored:
/// frequency and presence penalties (additive penalties this runtime does not have; set
/// <see cref="GenerationOptions.RepetitionPenalty"/> in the defaults instead), tools, response
/// format, model id, conversation id. Unset options take the client's default
/// <see cref="GenerationOptions"/>.</para>
/// <para><b>Threads.</b> As the model: requests on one client run one at a time, in turn.</para>
/// <para><b>Disposal.</b> The client does not own the model: disposing the client leaves the model
/// open, and disposing the model ends the client's use of it.</para>
/// </remarks>
public sealed class LanguageModelChatClient : IChatClient
{
    /// <param name="model">The model that writes the replies.</param>
    /// <param name="format">How conversations become prompts; null = <see cref="PlainTextChatFormat"/>.</param>
    /// <param name="defaults">Settings for what a request's <see cref="ChatOptions"/> leaves unset; null = <see cref="LanguageModel.DefaultOptions"/>.</param>
    public LanguageModelChatClient(LanguageModel model, IChatPromptFormat? format = null, GenerationOptions? defaults = null)
    {
        Model = model ?? throw new ArgumentNullException(nameof(model));
        Format = format ?? PlainTextChatFormat.Instance;
        Defaults = defaults ?? LanguageModel.DefaultOptions;
        Metadata = new ChatClientMetadata(providerName: "sageptq", providerUri: null, defaultModelId: model.ModelId);
    }

    /// <summary>The model that writes the replies.</summary>
    public LanguageModel Model { get; }

    /// <summary>How conversations become prompts.</summary>
    public IChatPromptFormat Format { get; }

    /// <summary>The settings used where a request's options say nothing.</summary>
    public GenerationOptions Defaults { get; }

    /// <summary>Provider "sageptq" and the model's id.</summary>
    public ChatClientMetadata Metadata { get; }

    /// <summary>The prompt a request sends to the model, as <see cref="Format"/> renders it (with the instructions first).</summary>
    public string RenderPrompt(IEnumerable<ChatMessage> messages, ChatOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        List<ChatMessage> conversation = [];
        if (!string.IsNullOrEmpty(options?.Instructions)) conversation.Add(new ChatMessage(ChatRole.System, options.Instructions));
        conversation.AddRange(messages);
        return Format.Render(conversation);
    }

    /// <inheritdoc/>
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        var request = Start(messages, options, cancellationToken);
        var text = new StringBuilder();
        GenerationSummary? summary = null;
        await foreach (var piece in ReplyPieces(request.Updates).ConfigureAwait(false))
        {
            text.Append(piece.Text);
            summary ??= piece.Summary;
        }
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, text.ToString()) { MessageId = request.Id })
        {
            ResponseId = request.Id,
            ModelId = Model.ModelId,
            CreatedAt = request.Created,
            FinishReason = ChatOptionsMapping.ToChatFinishReason(summary!.FinishReason),
            Usage = ChatOptionsMapping.ToUsage(summary),
        };
    }

    /// <inheritdoc/>
    /// <remarks>Text updates as the reply grows, then one update with the finish reason and a <see cref="UsageContent"/>.</remarks>
    public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        CancellationToken cancellationToken = default) =>
        StreamUpdates(Start(messages, options, cancellationToken));

    private async IAsyncEnumerable<ChatResponseUpdate> StreamUpdates(Request request,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var piece in ReplyPieces(request.Updates).WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            var update = piece.Summary is { } summary
                ? new ChatResponseUpdate(ChatRole.Assistant, [new UsageContent(ChatOptionsMapping.ToUsage(summary))])
                {
                    FinishReason = ChatOptionsMapping.ToChatFinishReason(summary.FinishReason),
                }
                : new ChatResponseUpdate(ChatRole.Assistant, piece.Text);
            update.ResponseId = request.Id;
            update.MessageId = request.Id;
            update.ModelId = Model.ModelId;
            update.CreatedAt = request.Created;
            yield return update;
        }
    }

    /// <summary>One request: its stream of updates (arguments already checked) and the id and time its response reports.</summary>
    private readonly record struct Request(IAsyncEnumerable<GenerationUpdate> Updates, string Id, DateTimeOffset Created);

    /// <summary>Renders the prompt and maps the options, so that bad input fails at the call, not at the first update.</summary>
    private Request Start(IEnumerable<ChatMessage> messages, ChatOptions? options, CancellationToken cancellationToken)
    {
        string prompt = RenderPrompt(messages, options);
        var generation = ChatOptionsMapping.ToGenerationOptions(options, Defaults, Format.StopSequences,
            Model.CountTokens(prompt), Model.ContextLength);
        return new Request(Model.StreamAsync(prompt, generation, cancellationToken), Guid.NewGuid().ToString("N"), DateTimeOffset.UtcNow);
    }

    /// <summary>
    /// The updates with the reply's leading whitespace removed (the prompt ends at "Assistant:" and
    /// the first token usually starts with a space), dropping pieces that become empty.
    /// </summary>
    private static async IAsyncEnumerable<GenerationUpdate> ReplyPieces(IAsyncEnumerable<GenerationUpdate> updates,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        bool started = false;
        await foreach (var update in updates.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            if (update.Summary is not null) { yield return update; continue; }
            string text = started ? update.Text : update.Text.TrimStart();
            if (text.Length == 0) continue;
            started = true;
            yield return update with { Text = text };
        }
    }

    /// <inheritdoc/>
    /// <remarks>Answers <see cref="ChatClientMetadata"/>, this client, and its <see cref="LanguageModel"/>; null for anything keyed.</remarks>
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return Metadata;
        if (serviceType.IsInstanceOfType(this)) return this;
        if (serviceType.IsInstanceOfType(Model)) return Model;
        return null;
    }

    /// <summary>Does nothing: the client does not own the model (see the remarks).</summary>
    public void Dispose() { }
}
