using System.Diagnostics;
using System.Text;

namespace SagePtq.EndToEnd.Tests;

/// <summary>The result of a finished child process: exit code, its standard output, and everything it printed (both streams, interleaved).</summary>
internal sealed record ProcessResult(string Command, int ExitCode, string StandardOutput, string Output)
{
    /// <summary>Fails the test with the command's output when it did not succeed.</summary>
    public ProcessResult EnsureSuccess()
    {
        if (ExitCode != 0) Assert.Fail($"`{Command}` exited with {ExitCode}:\n{Output}");
        return this;
    }
}

/// <summary>Runs <c>dotnet</c> commands as child processes, isolated from the build servers and from this test host's MSBuild environment.</summary>
internal static class DotNet
{
    private static readonly string Host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

    public static ProcessResult Run(string workingDirectory, IReadOnlyDictionary<string, string>? environment, TimeSpan timeout, params string[] arguments)
    {
        var start = new ProcessStartInfo(Host)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        // The test host runs inside `dotnet test`: its MSBuild variables would leak into the child build.
        foreach (var name in new[] { "MSBuildExtensionsPath", "MSBuildSDKsPath", "MSBUILD_EXE_PATH", "MSBuildLoadMicrosoftTargetsReadOnly" })
            start.Environment.Remove(name);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) start.Environment[name] = value;

        var output = new StringBuilder();
        var standardOutput = new StringBuilder();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (output)
            {
                output.AppendLine(e.Data);
                standardOutput.AppendLine(e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        string command = "dotnet " + string.Join(' ', arguments);
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"`{command}` did not finish within {timeout.TotalSeconds:F0} s:\n{output}");
        }
        process.WaitForExit();
        lock (output) return new ProcessResult(command, process.ExitCode, standardOutput.ToString(), output.ToString());
    }
}
