using SagePtq.Quantizer.Methods.Billm;
using SagePtq.Quantizer.Methods.Pbllm;
using SagePtq.Quantizer.Methods.Sage;

namespace SagePtq.Quantizer.Methods;

/// <summary>
/// Every method the quantizer offers, by its CLI name, with its options and their defaults in one
/// place: <c>sageptq quantize --method M --option key=value</c> comes here, and the manifest records
/// <see cref="MethodOptions.Effective"/>.
/// </summary>
public static class MethodCatalog
{
    public static IReadOnlyList<string> Names { get; } = ["sage", "rtn", "gptq", "septq", "billm", "pbllm", "fp16"];

    /// <exception cref="ArgumentException">An unknown method, an unknown option or a value out of range.</exception>
    public static ILinearQuantizer Create(string method, MethodOptions options)
    {
        ILinearQuantizer quantizer = method switch
        {
            "sage" => Sage(options),
            "rtn" => new RoundToNearestQuantizer(
                options.Int("bits", 2, 2, 8), options.Int("group_size", 64, -1, 1 << 20), Range(options, GridRange.MinMaxWithZero)),
            "gptq" => new GptqQuantizer(
                options.Int("bits", 2, 2, 8), options.Int("group_size", 128, -1, 1 << 20), options.Bool("act_order", false),
                options.Double("damp", 0.01, 0, 1), options.Int("block_size", 128, 1, 4096), Range(options, GridRange.MinMaxWithZero)),
            "septq" => new SeptqQuantizer(
                options.Int("bits", 2, 2, 8), options.Double("reserved", 0.01, 0, 0.5), options.Int("group_size", -1, -1, 1 << 20),
                Range(options, GridRange.MseClipped), options.Double("damp", 0.01, 0, 1), options.Int("block_size", 128, 1, 4096)),
            "billm" => new BillmQuantizer(new BillmOptions
            {
                BlockSize = options.Int("block_size", 128, 8, 4096),
                DampFraction = options.Double("damp", 0.01, 0, 1),
                ExactBlockCompensation = options.Bool("exact_compensation", false),
            }),
            "pbllm" => new PbllmQuantizer(new PbllmOptions
            {
                SalientFraction = options.Double("salient", 0.1, 0, 1),
                Saliency = options.Choice("saliency", "hessian", "hessian", "magnitude") == "hessian" ? PbllmSaliency.Hessian : PbllmSaliency.Magnitude,
                Compensate = options.Bool("compensate", true),
                DampFraction = options.Double("damp", 0.01, 0, 1),
            }),
            "fp16" => new Fp16Quantizer(),
            _ => throw new ArgumentException($"unknown method '{method}'; the methods are {string.Join(", ", Names)}"),
        };
        options.ThrowIfUnknown(method);
        return quantizer;
    }

    private static SageQuantizer Sage(MethodOptions o)
    {
        var defaults = new SageOptions();
        var options = new SageOptions
        {
            Bits = o.Double("bits", defaults.Bits, 1.0, 16),
            SalientBits = o.Int("salient_bits", defaults.SalientBits, 2, 8),
            MaxSalientRatio = o.Double("max_salient", defaults.MaxSalientRatio, 0, 1),
            Salient = o.Choice("salient", "column", "column", "weight") == "column" ? SalientGranularity.Column : SalientGranularity.Weight,
            Groups = o.Choice("groups", "column", "column", "weight") == "column" ? GroupGranularity.Column : GroupGranularity.Weight,
            ScaleMode = o.Choice("scale", "row_x_group", "per_group", "row_x_group", "per_row_group") switch
            {
                "per_group" => GroupScaleMode.PerGroup,
                "per_row_group" => GroupScaleMode.PerRowGroup,
                _ => GroupScaleMode.RowTimesGroup,
            },
            SalientRatio = SalientRatio(o.Double("salient_ratio", -1, -1, 0.5)),
            Grouping = o.Choice("grouping", "spectral", "spectral", "kmeans") == "kmeans" ? GroupingAlgorithm.KMeans : GroupingAlgorithm.Spectral,
            MaxGroups = o.Int("max_groups", defaults.MaxGroups, 1, 16),
            Offset = o.Bool("offset", defaults.Offset),
            Iterations = o.Int("iterations", defaults.Iterations, 0, 100),
            SearchIterations = o.Int("search_iterations", defaults.SearchIterations, 0, 100),
            HessianSaliency = o.Bool("hessian_saliency", defaults.HessianSaliency),
            Damping = o.Double("damp", defaults.Damping, 0, 1),
            Rotate = o.Choice("rotate", "auto", "auto", "true", "false") switch { "true" => true, "false" => false, _ => null },
            Compensate = o.Bool("compensate", defaults.Compensate),
            Refit = o.Int("refit", defaults.Refit, 0, 10),
        };
        return new SageQuantizer(options);
    }

    // salient_ratio=-1 (the default) keeps the per-matrix search; a share in [0, 0.5] fixes it for every matrix.
    private static double? SalientRatio(double value) => value switch
    {
        -1 => null,
        >= 0 => value,
        _ => throw new ArgumentException($"option salient_ratio={value.ToString(System.Globalization.CultureInfo.InvariantCulture)}: expected -1 (searched per matrix) or a share from 0 to 0.5"),
    };

    private static GridRange Range(MethodOptions options, GridRange defaultRange) =>
        options.Choice("range", Name(defaultRange), "minmax_with_zero", "minmax", "mse") switch
        {
            "minmax" => GridRange.MinMax,
            "mse" => GridRange.MseClipped,
            _ => GridRange.MinMaxWithZero,
        };

    private static string Name(GridRange range) => range switch
    {
        GridRange.MinMax => "minmax",
        GridRange.MseClipped => "mse",
        _ => "minmax_with_zero",
    };
}
