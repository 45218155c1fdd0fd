using System.Text.Json;

namespace SagePtq.Tests;

/// <summary>One prompt of a goldens file: what transformers' LlamaForCausalLM computed for it in FP32.</summary>
internal sealed record GoldenPrompt(string Prompt, int[] Ids, float[] LastLogits, int[] ArgmaxPerPosition, int[] GreedyIds, string GreedyText);

internal static class GoldenPrompts
{
    /// <summary>sagelm-7m's prompts, kept in the repository so its tests run without ../shared.</summary>
    public static string SageLm7mPath =>
        Path.Combine(TestAssets.RepoRoot, "tests", "Shared", "Goldens", "sagelm-7m.prompts.json");

    public static string SageLm30mPath => TestAssets.Shared("reference", "goldens.json");

    public static IReadOnlyList<GoldenPrompt> Load(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        return doc.RootElement.GetProperty("prompts").EnumerateArray().Select(p => new GoldenPrompt(
            p.GetProperty("prompt").GetString()!, Ints(p.GetProperty("ids")), p.GetProperty("last_logits").EnumerateArray().Select(e => e.GetSingle()).ToArray(),
            Ints(p.GetProperty("argmax_per_position")), Ints(p.GetProperty("greedy_ids")), p.GetProperty("greedy_text").GetString()!)).ToArray();

        static int[] Ints(JsonElement array) => array.EnumerateArray().Select(e => e.GetInt32()).ToArray();
    }
}
