using SagePtq.Runtime;
using SagePtq.Runtime.Generation;

namespace SagePtq.Quantizer.Pipeline;

/// <summary>
/// The calibration set of DESIGN.md §4: windows of consecutive tokens drawn at seeded random
/// offsets from the tokenized calibration text (the way GPTQ and BiLLM sample C4/WikiText), so a
/// seed gives the same windows on every machine.
/// </summary>
public static class CalibrationWindows
{
    public const int DefaultCount = 128;
    public const int DefaultLength = 1024;

    /// <param name="stream">The calibration text under the evaluation protocol (BOS per document).</param>
    /// <param name="sourcePath">The text file, named in the error when it is too short.</param>
    /// <exception cref="ModelFileException">The text has fewer tokens than one window.</exception>
    public static int[][] Draw(ReadOnlySpan<int> stream, int count, int length, ulong seed, string sourcePath)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 2);
        if (stream.Length < length)
            throw new ModelFileException(sourcePath, $"has {stream.Length} tokens; a calibration window needs {length}");

        var random = new SplitMix64(seed);
        long offsets = stream.Length - length + 1;
        var windows = new int[count][];
        for (int w = 0; w < count; w++)
        {
            int start = (int)(random.NextUInt64() % (ulong)offsets);
            windows[w] = stream.Slice(start, length).ToArray();
        }
        return windows;
    }
}
