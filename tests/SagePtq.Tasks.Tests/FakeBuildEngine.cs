using System.Collections;
using Microsoft.Build.Framework;

namespace SagePtq.Tasks.Tests;

/// <summary>An MSBuild engine that records what a task logs; safe to share between threads.</summary>
internal sealed class FakeBuildEngine : IBuildEngine
{
    private readonly object gate = new();
    private readonly List<BuildErrorEventArgs> errors = [];
    private readonly List<BuildMessageEventArgs> messages = [];
    private readonly List<BuildWarningEventArgs> warnings = [];

    public IReadOnlyList<BuildErrorEventArgs> Errors { get { lock (gate) return [.. errors]; } }

    public IReadOnlyList<BuildWarningEventArgs> Warnings { get { lock (gate) return [.. warnings]; } }

    public IReadOnlyList<BuildMessageEventArgs> Messages { get { lock (gate) return [.. messages]; } }

    public bool Logged(string text) => Messages.Any(m => m.Message?.Contains(text, StringComparison.Ordinal) == true);

    public int Count(string text) => Messages.Count(m => m.Message?.Contains(text, StringComparison.Ordinal) == true);

    public string Log => string.Join("\n", Messages.Select(m => m.Message).Concat(Errors.Select(e => $"error {e.Code}: {e.Message}")));

    public bool ContinueOnError => false;

    public int LineNumberOfTaskNode => 0;

    public int ColumnNumberOfTaskNode => 0;

    public string ProjectFileOfTaskNode => "test.csproj";

    public bool BuildProjectFile(string projectFileName, string[] targetNames, IDictionary globalProperties, IDictionary targetOutputs) =>
        throw new NotSupportedException("the SagePtq tasks build no projects");

    public void LogCustomEvent(CustomBuildEventArgs e) { }

    public void LogErrorEvent(BuildErrorEventArgs e) { lock (gate) errors.Add(e); }

    public void LogMessageEvent(BuildMessageEventArgs e) { lock (gate) messages.Add(e); }

    public void LogWarningEvent(BuildWarningEventArgs e) { lock (gate) warnings.Add(e); }
}
