using System.Text.Json;
using SagePtq.Tests;

namespace SagePtq.Runtime.Tests.Reference;

/// <summary>One prompt of a goldens file: what transformers' LlamaForCausalLM computed for it in FP32.</summary>
internal sealed record GoldenPrompt(int[] Ids, float[] LastLogits, int[] ArgmaxPerPosition, int[] GreedyIds);

internal static class GoldenPrompts
{
    /// <summary>sagelm-7m's prompts, kept in the repository so its tests run without ../shared.</summary>
    public static string SageLm7mPath =>
        Path.Combine(TestAssets.RepoRoot, "tests", "SagePtq.Runtime.Tests", "Reference", "Goldens", "sagelm-7m.prompts.json");

    public static string SageLm30mPath => TestAssets.Shared("reference", "goldens.json");

    public static IReadOnlyList<GoldenPrompt> Load(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        return doc.RootElement.GetProperty("prompts").EnumerateArray().Select(p => new GoldenPrompt(
            Ints(p.GetProperty("ids")), p.GetProperty("last_logits").EnumerateArray().Select(e => e.GetSingle()).ToArray(),
            Ints(p.GetProperty("argmax_per_position")), Ints(p.GetProperty("greedy_ids")))).ToArray();

        static int[] Ints(JsonElement array) => array.EnumerateArray().Select(e => e.GetInt32()).ToArray();
    }
}
