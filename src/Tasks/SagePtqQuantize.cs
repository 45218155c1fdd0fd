using System.Collections.Generic;
using System.Globalization;
using System.Threading;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

namespace SagePtq.Tasks;

/// <summary>
/// Quantizes one model out of process: <c>dotnet exec sageptq.dll quantize ...</c> into a temporary
/// folder, under an exclusive lock on the model's output folder, then moves the pack and the manifest
/// into place and stamps the folder with the input hash. A build that gets the lock after another
/// build made the same pack finds the stamp and does nothing. The quantizer's progress lines become
/// build messages; its failure is error SPQ2002 naming the file it concerns and the exit code.
/// </summary>
public sealed class SagePtqQuantize : ToolTask
{
    private readonly CancellationTokenSource cancellation = new();
    private QuantizerOutput output = new();
    private string tempFolder = "";

    /// <summary>The model ID, for messages.</summary>
    [Required]
    public string ModelId { get; set; } = "";

    /// <summary>The checkpoint folder (<c>--model</c>).</summary>
    [Required]
    public string CheckpointDir { get; set; } = "";

    /// <summary>The model's output folder; the pack and manifest end up directly in it.</summary>
    [Required]
    public string OutputDir { get; set; } = "";

    /// <summary>The input hash computed by <see cref="SagePtqResolveModels"/>; written to the <c>.complete</c> stamp.</summary>
    [Required]
    public string InputHash { get; set; } = "";

    /// <summary>The quantizer dll, run with <c>dotnet exec</c>.</summary>
    [Required]
    public string QuantizerPath { get; set; } = "";

    /// <summary>The method (<c>--method</c>); <c>sage</c> when empty.</summary>
    public string Method { get; set; } = "";

    /// <summary>Method options <c>key=value;key=value</c>, each passed as <c>--option key=value</c>.</summary>
    public string Options { get; set; } = "";

    /// <summary><c>--bits</c>, when set.</summary>
    public string Bits { get; set; } = "";

    /// <summary><c>--seed</c>, when set.</summary>
    public string Seed { get; set; } = "";

    /// <summary><c>--embeddings</c> (fp16, 8, 4), when set.</summary>
    public string Embeddings { get; set; } = "";

    /// <summary>The calibration text (<c>--calibration</c>); data-free when empty.</summary>
    public string Calibration { get; set; } = "";

    /// <summary>The dotnet host; <c>$(DOTNET_HOST_PATH)</c> when empty, then <c>dotnet</c> on the PATH.</summary>
    public string DotnetHostPath { get; set; } = "";

    /// <summary>How long to wait for another build quantizing the same model, in seconds (default one hour).</summary>
    public int LockTimeoutSeconds { get; set; } = 3600;

    /// <summary>True when this task ran the quantizer (false when the pack was already current).</summary>
    [Output]
    public bool Quantized { get; private set; }

    /// <inheritdoc />
    protected override string ToolName => "dotnet";

    /// <inheritdoc />
    public override bool Execute()
    {
        if (!File.Exists(QuantizerPath))
        {
            Log.LogError(null, ErrorCodes.QuantizerMissing, null, null, 0, 0, 0, 0,
                "SagePtq: the quantizer '{0}' does not exist; set SagePtqQuantizerPath to the sageptq.dll to use.", QuantizerPath);
            return false;
        }

        using var folderLock = OutputFolderLock.Acquire(OutputDir, TimeSpan.FromSeconds(LockTimeoutSeconds), TimeSpan.FromMilliseconds(250),
            () => Log.LogMessage(MessageImportance.High, "SagePtq: waiting for another build quantizing {0} ({1}).", ModelId, OutputDir),
            cancellation.Token);
        if (folderLock is null)
        {
            if (cancellation.IsCancellationRequested) return false;
            Log.LogError(null, ErrorCodes.LockTimeout, null, null, 0, 0, 0, 0,
                "SagePtq: another build held {0} for more than {1} s; if no build is running, delete its {2} file.",
                OutputDir, LockTimeoutSeconds, OutputFiles.Lock);
            return false;
        }

        if (PackFolder.IsCurrent(OutputDir, InputHash))
        {
            Log.LogMessage(MessageImportance.Normal, "SagePtq: {0} is up to date (made by another build).", ModelId);
            return true;
        }

        PackFolder.DeleteTempFolders(OutputDir);
        tempFolder = PackFolder.NewTempFolder(OutputDir);
        output = new QuantizerOutput();
        try
        {
            Log.LogMessage(MessageImportance.High, "SagePtq: quantizing {0} ({1}) from {2}", ModelId, MethodOrDefault, CheckpointDir);
            EnvironmentVariables = (EnvironmentVariables ?? Array.Empty<string>())
                .Concat(new[] { QuantizerOutput.MachineErrorsVariable + "=1" }).ToArray();
            if (!base.Execute()) return false;
            PackFolder.Publish(OutputDir, tempFolder, InputHash);
            Quantized = true;
            Log.LogMessage(MessageImportance.High, "SagePtq: {0} -> {1}", ModelId, Path.Combine(OutputDir, OutputFiles.Manifest));
            return true;
        }
        finally
        {
            PackFolder.DeleteTempFolders(OutputDir);
        }
    }

    /// <inheritdoc />
    public override void Cancel()
    {
        cancellation.Cancel();
        base.Cancel();
    }

    /// <inheritdoc />
    protected override string GenerateFullPathToTool()
    {
        string host = DotnetHostPath.Trim();
        if (host.Length == 0) host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "";
        if (host.Length > 0) return host;
        string exe = Path.DirectorySeparatorChar == '\\' ? "dotnet.exe" : "dotnet";
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
        {
            if (dir.Length == 0) continue;
            string candidate = Path.Combine(dir.Trim('"'), exe);
            if (File.Exists(candidate)) return candidate;
        }
        return exe;
    }

    /// <inheritdoc />
    protected override string GenerateCommandLineCommands()
    {
        var args = new CommandLineBuilder();
        args.AppendSwitch("exec");
        args.AppendFileNameIfNotNull(QuantizerPath);
        args.AppendSwitch("quantize");
        args.AppendSwitchIfNotNull("--model ", CheckpointDir);
        args.AppendSwitchIfNotNull("--method ", MethodOrDefault);
        args.AppendSwitchIfNotNull("--out ", tempFolder);
        foreach (string pair in SplitOptions(Options)) args.AppendSwitchIfNotNull("--option ", pair);
        if (Bits.Trim().Length > 0) args.AppendSwitchIfNotNull("--bits ", Bits.Trim());
        if (Seed.Trim().Length > 0) args.AppendSwitchIfNotNull("--seed ", Seed.Trim());
        if (Embeddings.Trim().Length > 0) args.AppendSwitchIfNotNull("--embeddings ", Embeddings.Trim());
        if (Calibration.Trim().Length > 0) args.AppendSwitchIfNotNull("--calibration ", Calibration.Trim());
        return args.ToString();
    }

    /// <inheritdoc />
    protected override void LogEventsFromTextOutput(string singleLine, MessageImportance messageImportance)
    {
        var importance = output.Accept(singleLine);
        if (importance is { } level) Log.LogMessage(level, "  {0}: {1}", ModelId, singleLine);
    }

    /// <inheritdoc />
    protected override bool HandleTaskExecutionErrors()
    {
        if (cancellation.IsCancellationRequested) return false;
        string problem = output.ErrorMessage ?? "it printed no error message (see the messages above)";
        Log.LogError(null, ErrorCodes.QuantizerFailed, null, output.ErrorFile ?? "", 0, 0, 0, 0,
            "SagePtq: quantizing {0} ({1}) failed with exit code {2}: {3}",
            ModelId, MethodOrDefault, ExitCode.ToString(CultureInfo.InvariantCulture), problem);
        return false;
    }

    private string MethodOrDefault => Method.Trim().Length == 0 ? "sage" : Method.Trim();

    private static IEnumerable<string> SplitOptions(string options) =>
        options.Split(new[] { ';' }, StringSplitOptions.RemoveEmptyEntries).Select(p => p.Trim()).Where(p => p.Length > 0);
}
