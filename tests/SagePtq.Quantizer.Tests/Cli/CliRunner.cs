using SagePtq.Quantizer.Cli;

namespace SagePtq.Quantizer.Tests.Cli;

/// <summary>What one in-process run of <c>sageptq</c> printed and returned.</summary>
internal sealed record CliResult(int ExitCode, string Output, string Error);

internal static class CliRunner
{
    public static CliResult Run(params string[] args)
    {
        var output = new StringWriter { NewLine = "\n" };
        var error = new StringWriter { NewLine = "\n" };
        int code = SagePtqCli.Run(args, output, error);
        return new CliResult(code, output.ToString(), error.ToString());
    }
}
