namespace SagePtq.Runtime;

/// <summary>The median of repeated measurements, for the benchmarks (the CLI's <c>bench</c>, the CUDA step profile).</summary>
internal static class Medians
{
    /// <summary>The middle value, or the mean of the two middle values of an even count.</summary>
    public static double Of(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0) throw new ArgumentException("no values", nameof(values));
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
