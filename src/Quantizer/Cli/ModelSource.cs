using System.CommandLine;
using SagePtq.Runtime.Cpu;
using SagePtq.Runtime.Generation;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Reference;
using SagePtq.Runtime.Tokenization;

namespace SagePtq.Quantizer.Cli;

/// <summary>
/// The model a verb runs: a pack (<c>--pack DIR</c>) or the unquantized checkpoint (<c>--fp --model DIR</c>);
/// exactly one must be given. A pack runs on <c>--backend cpu</c> (the packed-weight kernels,
/// <see cref="CpuModel"/>) or <c>--backend reference</c> (dequantized into the FP32 reference forward pass,
/// the measuring stick of DESIGN.md §4); each verb says which is its default for packs. A checkpoint always
/// runs on the reference.
/// </summary>
internal sealed class ModelSource(string defaultPackBackend)
{
    private readonly Option<bool> _fp = new("--fp") { Description = "Run the unquantized checkpoint given by --model." };
    private readonly Option<string> _model = CliOptions.ModelDir(required: false);
    private readonly Option<string> _pack = new("--pack") { Description = "A pack folder written by 'sageptq quantize' (model.sagepack + model.manifest.json)." };

    private readonly Option<string> _backend = new Option<string>("--backend")
    {
        Description = $"How a pack runs: 'cpu' (packed-weight kernels) or 'reference' (dequantized FP32 forward pass). Default for packs: {defaultPackBackend}.",
    }.AcceptOnlyFromAmong("reference", "cpu");
    private readonly Option<int> _threads = new Option<int>("--threads") { Description = "Threads of the cpu backend (default: every core)." }.WithRange(0, 1024);

    public IEnumerable<Option> Options => [_fp, _model, _pack, _backend, _threads];

    /// <summary>The model and its tokenizer, and a short label for progress lines. Dispose the model when it is <see cref="IDisposable"/>.</summary>
    /// <exception cref="UsageException">Neither or both sources, or --fp and --model not together, or --backend cpu without a pack.</exception>
    public (ICausalLanguageModel Model, Tokenizer Tokenizer, string Label, string Path) Load(ParseResult parse)
    {
        string? pack = parse.GetValue(_pack), model = parse.GetValue(_model);
        bool fp = parse.GetValue(_fp);
        string? backend = parse.GetValue(_backend);
        bool cpu = (backend ?? (pack is not null ? defaultPackBackend : "reference")) == "cpu";
        if (pack is not null && (fp || model is not null))
            throw new UsageException("give either --pack DIR or --fp --model DIR, not both.");
        if (pack is not null)
        {
            var packed = PackedModel.Open(pack);
            try
            {
                var tokenizer = Tokenizer.Parse(System.Text.Encoding.UTF8.GetString(packed.ReadTokenizerJson()), Path.Combine(pack, PackFormat.ManifestFileName));
                string label = $"{packed.Manifest.Method} pack";
                // The cpu model reads the mapped pack until it is disposed, and closes it then.
                if (cpu) return (new CpuModel(packed, new CpuModelOptions { Threads = parse.GetValue(_threads) }, ownsPack: true), tokenizer, $"{label} on cpu", pack);
                var reference = new ReferenceModel(packed.ToLlamaWeights());
                packed.Dispose();
                return (reference, tokenizer, label, pack);
            }
            catch
            {
                packed.Dispose();
                throw;
            }
        }
        if (cpu) throw new UsageException("--backend cpu runs packs: give --pack DIR (quantize the checkpoint with --method fp16 to run it unquantized).");
        if (!fp || model is null)
            throw new UsageException("give --pack DIR (a quantized pack) or --fp --model DIR (the unquantized checkpoint).");
        return (ReferenceModel.Load(model), TokenizerLocator.Load(model), Path.GetFileName(Path.GetFullPath(model)), model);
    }
}
