using System.Globalization;
using SagePtq.Generator.Model;

namespace SagePtq.Generator.Emit;

/// <summary>
/// The one-line descriptions that precede each generated step and kernel, shared by the C# and CUDA
/// emitters so the two say the same thing in the same words. Invariant culture throughout.
/// </summary>
internal static class Describe
{
    /// <summary>An integer, invariant.</summary>
    public static string Int(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>A shape as input→output features (<c>1408→512</c>).</summary>
    public static string Shape(LinearSpec linear) => Int(linear.Cols) + "→" + Int(linear.Rows);

    /// <summary>A ratio as a percentage with one decimal (<c>1.6%</c>).</summary>
    public static string Percent(double ratio) => (ratio * 100).ToString("0.0", CultureInfo.InvariantCulture) + "%";

    /// <summary>Storage bits per weight with four decimals (<c>1.0835</c>).</summary>
    public static string Bits(double bits) => bits.ToString("0.0000", CultureInfo.InvariantCulture);

    /// <summary>
    /// What a linear's layout constants say: <c>K=3 groups, 1.6% salient at 4 bits</c> for sage (and the
    /// other binarized layouts), <c>4-bit codes in groups of 32</c> for uniform, <c>16-bit floats</c> for f16.
    /// </summary>
    public static string Constants(LinearSpec linear)
    {
        switch (linear.Layout)
        {
            case "f16":
                return "16-bit floats";
            case "uniform":
                return $"{Int(Parameter(linear, "bits"))}-bit codes in groups of {Int(Parameter(linear, "group_size"))}";
            default:
                var groups = linear.GroupCount == 1 ? "K=1 group" : $"K={Int(linear.GroupCount)} groups";
                // Always the contract's form, also at 0.0%: the reader compares layers line by line.
                return $"{groups}, {Percent(linear.SaliencyRatio)} salient at {Int(linear.SalientBits)} bits";
        }
    }

    /// <summary>
    /// The C# step comment for a linear: <c>layer 7 mlp.down_proj: 1408→512, K=3 groups, 1.6% salient at 4 bits</c>
    /// (the layout is named when it is not sage).
    /// </summary>
    public static string LinearForCSharp(LinearSpec linear) =>
        $"layer {Int(linear.Layer)} {linear.Role}: {Shape(linear)}, {(linear.Layout == "sage" ? "" : linear.Layout + ", ")}{Constants(linear)}";

    /// <summary>The CUDA comment for a linear: <c>layer 3 self_attn.q_proj: 256→256, sage, K=3 groups, 0.4% salient at 4 bits</c>.</summary>
    public static string LinearForCuda(LinearSpec linear) =>
        $"layer {Int(linear.Layer)} {linear.Role}: {Shape(linear)}, {linear.Layout}, {Constants(linear)}";

    /// <summary>The value of a layout parameter (the parser checked that CUDA layouts have theirs).</summary>
    public static long Parameter(LinearSpec linear, string key)
    {
        foreach (var p in linear.Parameters)
        {
            if (p.Key == key) return p.Value;
        }
        return 0;
    }

    /// <summary>A C# string literal of <paramref name="value"/>.</summary>
    public static string Literal(string value) =>
        Microsoft.CodeAnalysis.CSharp.SymbolDisplay.FormatLiteral(value, quote: true);
}
