using System.Text.RegularExpressions;
using Microsoft.Build.Framework;

namespace SagePtq.Tasks;

/// <summary>
/// Reads the quantizer's output lines as they come: progress lines (<c>quantize sage: 12/42 (3 s, about 7 s left)</c>)
/// become high-importance messages, <c>error: FILE: problem</c> lines are kept for the SPQ2002 error,
/// and <c>sageptq-error-file: PATH</c> (written when <c>SAGEPTQ_MACHINE_ERRORS=1</c>) gives the error's full path.
/// </summary>
internal sealed class QuantizerOutput
{
    /// <summary>The environment variable that makes the quantizer name the full path of a bad file on its own line.</summary>
    public const string MachineErrorsVariable = "SAGEPTQ_MACHINE_ERRORS";

    /// <summary>The prefix of that line.</summary>
    public const string ErrorFilePrefix = "sageptq-error-file: ";

    private const string ErrorPrefix = "error: ";

    private static readonly Regex ProgressLine = new(@"^quantize \S+: \d+/\d+ ", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));

    private readonly object gate = new();
    private string? errorMessage;
    private string? errorFile;

    /// <summary>The first error message the quantizer printed (without <c>error: </c>), or null.</summary>
    public string? ErrorMessage { get { lock (gate) return errorMessage; } }

    /// <summary>The full path of the file the error concerns, when the quantizer named one.</summary>
    public string? ErrorFile { get { lock (gate) return errorFile; } }

    /// <summary>Classifies one line; returns how important it is as a build message, or null when it is not to be logged.</summary>
    public MessageImportance? Accept(string line)
    {
        lock (gate)
        {
            if (line.StartsWith(ErrorFilePrefix, StringComparison.Ordinal))
            {
                errorFile ??= line.Substring(ErrorFilePrefix.Length).Trim();
                return null;
            }
            if (line.StartsWith(ErrorPrefix, StringComparison.Ordinal))
            {
                errorMessage ??= line.Substring(ErrorPrefix.Length).Trim();
                return MessageImportance.Normal;
            }
        }
        return ProgressLine.IsMatch(line) ? MessageImportance.High : MessageImportance.Normal;
    }
}
