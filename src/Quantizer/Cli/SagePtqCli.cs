using System.CommandLine;
using SagePtq.Runtime;

namespace SagePtq.Quantizer.Cli;

/// <summary>
/// The <c>sageptq</c> command line: one verb per file in this folder. Exit codes: 0 success,
/// 1 bad input (the message names the file and what is wrong), 2 bad usage, 130 cancelled.
/// Bad input never shows a stack trace; a stack trace means a bug in SagePtq.
/// </summary>
public static class SagePtqCli
{
    public const int Success = 0;
    public const int BadInput = 1;
    public const int BadUsage = 2;
    public const int Cancelled = 130;

    /// <summary>
    /// Set to 1 (the MSBuild task does) to have a bad-input error followed by a line
    /// <c>sageptq-error-file: FULL-PATH</c>, so that a build error can point at the file itself.
    /// </summary>
    public const string MachineErrorsVariable = "SAGEPTQ_MACHINE_ERRORS";

    /// <summary>The prefix of the machine-readable line that names the full path of the bad file.</summary>
    public const string ErrorFilePrefix = "sageptq-error-file: ";

    public static RootCommand CreateRootCommand(CliContext context) => new("SagePtq: quantize LLaMA-family models to about one bit per weight, evaluate them and generate text.")
    {
        QuantizeCommand.Create(context),
        EvalCommand.Create(context),
        InspectCommand.Create(context),
        GenerateCommand.Create(context),
        TokenizeCommand.Create(context),
        BenchCommand.Create(context),
        SynthCommand.Create(context),
        SynthCheckpointCommand.Create(context),
        CudaCheckCommand.Create(context),
    };

    /// <summary>Runs one command line, writing results to <paramref name="output"/> and errors and progress to <paramref name="error"/>.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error, CancellationToken cancellation = default)
    {
        using var ctrlC = new CancellationTokenSource();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellation, ctrlC.Token);
        var context = new CliContext(output, error, linked.Token);
        var parse = CreateRootCommand(context).Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors) error.WriteLine($"error: {e.Message}");
            error.WriteLine("Run 'sageptq --help' (or 'sageptq VERB --help') for usage.");
            return BadUsage;
        }

        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; ctrlC.Cancel(); };
        Console.CancelKeyPress += onCancel;
        try
        {
            var config = new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false };
            return parse.Invoke(config);
        }
        catch (ModelFileException e)
        {
            error.WriteLine($"error: {e.Message}");
            if (Environment.GetEnvironmentVariable(MachineErrorsVariable) == "1")
                error.WriteLine($"{ErrorFilePrefix}{Path.GetFullPath(e.FilePath)}");
            return BadInput;
        }
        catch (UsageException e)
        {
            error.WriteLine($"error: {e.Message}");
            return BadUsage;
        }
        catch (OperationCanceledException)
        {
            error.WriteLine("cancelled");
            return Cancelled;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }
}

/// <summary>Options that are valid one by one but not together ("--seq 4096 for a 2048-token model").</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>Where a running verb writes, and the cancellation that Ctrl+C triggers.</summary>
public sealed record CliContext(TextWriter Output, TextWriter Error, CancellationToken Cancellation);
