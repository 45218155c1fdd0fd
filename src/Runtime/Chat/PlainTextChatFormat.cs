using System.Text;
using Microsoft.Extensions.AI;

namespace SagePtq.Runtime.Chat;

/// <summary>
/// A plain transcript, for base (non-chat) models, which continue it the way they continue any
/// dialogue they have read:
/// <code>
/// System: You are terse.
/// User: Hi!
/// Assistant: Hello.
/// User: What is 2+2?
/// Assistant:
/// </code>
/// Each message is <c>Role: text</c> on its own line (the role's name capitalised: System, User,
/// Assistant, Tool, or a custom role's own name); only a message's text is used, other content
/// (images, function calls) is left out. The reply stops before <c>"\nUser:"</c>, where the model
/// starts writing the user's next turn.
/// </summary>
public sealed class PlainTextChatFormat : IChatPromptFormat
{
    /// <summary>The one instance (the format has no settings).</summary>
    public static PlainTextChatFormat Instance { get; } = new();

    private PlainTextChatFormat() { }

    /// <inheritdoc/>
    public IReadOnlyList<string> StopSequences { get; } = ["\nUser:"];

    /// <inheritdoc/>
    public string Render(IReadOnlyList<ChatMessage> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var prompt = new StringBuilder();
        foreach (var message in messages)
            prompt.Append(Label(message.Role)).Append(": ").Append(message.Text).Append('\n');
        // No space after the colon: the reply's first token carries its own leading space, and a
        // prompt ending in a bare space tokenizes in a way the model has rarely seen.
        return prompt.Append(Label(ChatRole.Assistant)).Append(':').ToString();
    }

    private static string Label(ChatRole role) =>
        role.Value.Length == 0 ? "Unknown" : char.ToUpperInvariant(role.Value[0]) + role.Value[1..];
}
