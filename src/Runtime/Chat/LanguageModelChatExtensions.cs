using Microsoft.Extensions.AI;
using SagePtq.Runtime.Generation;

namespace SagePtq.Runtime.Chat;

/// <summary>Turns a <see cref="LanguageModel"/> into a Microsoft.Extensions.AI chat client.</summary>
public static class LanguageModelChatExtensions
{
    /// <summary>The model as an <see cref="IChatClient"/>; see <see cref="LanguageModelChatClient"/>. The client does not own the model.</summary>
    /// <param name="model">The model that writes the replies.</param>
    /// <param name="format">How conversations become prompts; null = <see cref="PlainTextChatFormat"/>.</param>
    /// <param name="defaults">Settings for what a request's options leave unset; null = <see cref="LanguageModel.DefaultOptions"/>.</param>
    public static IChatClient AsIChatClient(this LanguageModel model, IChatPromptFormat? format = null, GenerationOptions? defaults = null) =>
        new LanguageModelChatClient(model, format, defaults);
}
