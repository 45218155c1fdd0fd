using System.CommandLine;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Reference;
using SagePtq.Runtime.Tokenization;

namespace SagePtq.Quantizer.Cli;

/// <summary>
/// The model a verb runs: a pack (<c>--pack DIR</c>, dequantized into the FP32 reference forward
/// pass) or the unquantized checkpoint (<c>--fp --model DIR</c>). Exactly one must be given.
/// </summary>
internal sealed class ModelSource
{
    private readonly Option<bool> _fp = new("--fp") { Description = "Run the unquantized checkpoint given by --model." };
    private readonly Option<string> _model = CliOptions.ModelDir(required: false);
    private readonly Option<string> _pack = new("--pack") { Description = "A pack folder written by 'sageptq quantize' (model.sagepack + model.manifest.json)." };

    public IEnumerable<Option> Options => [_fp, _model, _pack];

    /// <summary>The model and its tokenizer, and a short label for progress lines.</summary>
    /// <exception cref="UsageException">Neither or both sources, or --fp and --model not together.</exception>
    public (ReferenceModel Model, Tokenizer Tokenizer, string Label, string Path) Load(ParseResult parse)
    {
        string? pack = parse.GetValue(_pack), model = parse.GetValue(_model);
        bool fp = parse.GetValue(_fp);
        if (pack is not null && (fp || model is not null))
            throw new UsageException("give either --pack DIR or --fp --model DIR, not both.");
        if (pack is not null)
        {
            using var packed = PackedModel.Open(pack);
            var tokenizer = Tokenizer.Parse(System.Text.Encoding.UTF8.GetString(packed.ReadTokenizerJson()), Path.Combine(pack, PackFormat.ManifestFileName));
            return (new ReferenceModel(packed.ToLlamaWeights()), tokenizer, $"{packed.Manifest.Method} pack", pack);
        }
        if (!fp || model is null)
            throw new UsageException("give --pack DIR (a quantized pack) or --fp --model DIR (the unquantized checkpoint).");
        return (ReferenceModel.Load(model), TokenizerLocator.Load(model), Path.GetFileName(Path.GetFullPath(model)), model);
    }
}
