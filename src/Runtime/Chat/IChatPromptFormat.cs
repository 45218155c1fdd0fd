using Microsoft.Extensions.AI;

namespace SagePtq.Runtime.Chat;

/// <summary>
/// How a conversation becomes text for a language model: the prompt that ends where the
/// assistant's reply begins, and the texts that mean the reply is over. Implement it for a model
/// trained on a chat template (Llama-2-chat's <c>[INST]</c>, ChatML...); the default,
/// <see cref="PlainTextChatFormat"/>, suits base models.
/// </summary>
public interface IChatPromptFormat
{
    /// <summary>The prompt for <paramref name="messages"/>, ending where the assistant's next reply starts.</summary>
    string Render(IReadOnlyList<ChatMessage> messages);

    /// <summary>Texts that, once generated, mean the model has left the assistant's turn; the reply stops before them.</summary>
    IReadOnlyList<string> StopSequences { get; }
}
