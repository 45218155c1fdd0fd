using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SagePtq.Runtime.Cpu;

/// <summary>The argument checks every <see cref="CpuLinear"/> makes, in one place so they read the same.</summary>
internal static unsafe class CpuLinearGuards
{
    /// <summary>Checks a <see cref="CpuLinear.Prepare"/> call.</summary>
    public static void CheckPrepare(CpuLinear linear, ReadOnlySpan<float> input, int tokens)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(tokens, 1);
        if (tokens > linear.MaxTokens)
            throw new ArgumentOutOfRangeException(nameof(tokens), $"linear '{linear.Name}' takes at most {linear.MaxTokens} tokens per Prepare, got {tokens}");
        if (input.Length < (long)tokens * linear.Cols)
            throw new ArgumentException($"input holds {input.Length} values, {tokens} tokens × {linear.Cols} are needed", nameof(input));
    }

    /// <summary>Checks a <see cref="CpuLinear.Multiply"/> call.</summary>
    public static void CheckMultiply(CpuLinear linear, Span<float> output, int rowStart, int rowEnd)
    {
        if (linear.PreparedTokens == 0) throw new InvalidOperationException($"linear '{linear.Name}': Multiply before Prepare");
        if (rowStart < 0 || rowEnd > linear.Rows || rowStart > rowEnd)
            throw new ArgumentOutOfRangeException(nameof(rowStart), $"row range [{rowStart}, {rowEnd}) is outside [0, {linear.Rows})");
        if (output.Length < (long)linear.PreparedTokens * linear.Rows)
            throw new ArgumentException($"output holds {output.Length} values, {linear.PreparedTokens} tokens × {linear.Rows} rows are needed", nameof(output));
    }

    /// <summary>Checks a <see cref="CpuLinear.DecodeRow"/> call.</summary>
    public static void CheckDecodeRow(CpuLinear linear, int row, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, linear.Rows);
        if (destination.Length < linear.Cols)
            throw new ArgumentException($"destination holds {destination.Length} values, a row of '{linear.Name}' has {linear.Cols}", nameof(destination));
    }

    /// <summary>The address of mapped pack bytes (they do not move: the mapping is native memory).</summary>
    public static byte* Pointer(ReadOnlySpan<byte> mapped) => (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(mapped));
}
