using System.Reflection;

namespace SagePtq.Tasks.Tests;

/// <summary>The built task dll and quantizer, and small fake checkpoints.</summary>
internal static class TaskTestAssets
{
    public static string TasksAssembly { get; } = Metadata("SagePtqTasksAssembly");

    public static string QuantizerPath { get; } = Metadata("SagePtqQuantizerPath");

    public static string BuiltInModelsDir => Path.Combine(SagePtq.Tests.TestAssets.RepoRoot, "models");

    /// <summary>A folder that looks like a checkpoint to the resolver: a config.json and a weights file.</summary>
    public static string FakeCheckpoint(string dir, int weightBytes = 16)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"), "{}");
        File.WriteAllBytes(Path.Combine(dir, "model.safetensors"), new byte[weightBytes]);
        return dir;
    }

    private static string Metadata(string key) => Path.GetFullPath(
        typeof(TaskTestAssets).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().First(a => a.Key == key).Value!);
}
