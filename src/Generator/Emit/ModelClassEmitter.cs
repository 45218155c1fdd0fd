using SagePtq.Generator.Model;

namespace SagePtq.Generator.Emit;

/// <summary>
/// Emits <c>{Class}.g.cs</c>: the public model class wrapping the runtime's <c>LanguageModel</c>,
/// its identity constants, the plan of every linear and the per-layer forward steps.
/// </summary>
internal static class ModelClassEmitter
{
    private const string LanguageModel = "global::SagePtq.Runtime.LanguageModel";
    private const string LanguageModelOptions = "global::SagePtq.Runtime.LanguageModelOptions";
    private const string GenerationOptions = "global::SagePtq.Runtime.Generation.GenerationOptions";
    private const string Tokenizer = "global::SagePtq.Runtime.Tokenization.Tokenizer";
    private const string ModelConfig = "global::SagePtq.Runtime.Checkpoints.ModelConfig";
    private const string CompiledModel = "global::SagePtq.Runtime.Compiled.CompiledModel";
    private const string ModelPlan = "global::SagePtq.Runtime.Compiled.ModelPlan";
    private const string LayerPlan = "global::SagePtq.Runtime.Compiled.LayerPlan";
    private const string CpuLayerForward = "global::SagePtq.Runtime.Compiled.CpuLayerForward";
    private const string ChatExtensions = "global::SagePtq.Runtime.Chat.LanguageModelChatExtensions";
    private const string ChatClient = "global::Microsoft.Extensions.AI.IChatClient";
    private const string CancellationToken = "global::System.Threading.CancellationToken";
    private const string AsyncEnumerable = "global::System.Collections.Generic.IAsyncEnumerable";
    private const string ReadOnlyList = "global::System.Collections.Generic.IReadOnlyList";
    private const string ReadOnlySpan = "global::System.ReadOnlySpan";

    /// <summary>The hint name of the file.</summary>
    public static string HintName(ModelSpec model) => model.ClassName + ".g.cs";

    /// <summary>The file's text.</summary>
    public static string Emit(ModelSpec model)
    {
        var a = model.Architecture;
        var c = model.ClassName;
        var w = new SourceWriter();
        FileHeader.Write(w, model, $"The {model.ModelId} model as a class: {Describe.Int(a.NumLayers)} layers with their constants baked in.");

        w.Line("/// <summary>");
        w.Line($"/// The quantized model <c>{model.ModelId}</c> ({model.MethodName}): {Describe.Int(a.NumLayers)} decoder layers, hidden size {Describe.Int(a.HiddenSize)},");
        w.Line($"/// MLP size {Describe.Int(a.IntermediateSize)}, {Describe.Int(a.NumHeads)} attention heads over {Describe.Int(a.NumKeyValueHeads)} key/value heads of size {Describe.Int(a.HeadDim)}, vocabulary {Describe.Int(a.VocabSize)}.");
        w.Line("/// Every layer's shapes, group counts, saliency ratios and salient counts are constants of this class");
        w.Line("/// (one nested <c>LayerNN</c> class per layer), checked against the pack when it opens.");
        w.Line("/// </summary>");
        w.Line("/// <remarks>");
        w.Line("/// <para>The weights are the pack written by the quantizer for this manifest: embedded in this assembly or");
        w.Line("/// copied beside it (<c>sageptq/{ModelId}/model.sagepack</c>), and memory-mapped, not copied, when the model opens.</para>");
        w.Line("/// <para><b>Threads.</b> Every member may be called from any thread; one instance runs one generation at a time,");
        w.Line("/// and concurrent calls wait their turn. Open one instance per generation that must run in parallel.</para>");
        w.Line("/// <para><b>Disposal.</b> Dispose the instance to release the mapped pack; a generation that is running stops");
        w.Line("/// before its next token, and every later call throws <see cref=\"global::System.ObjectDisposedException\"/>.</para>");
        w.Line("/// </remarks>");
        w.Line($"[global::System.CodeDom.Compiler.GeneratedCode({Describe.Literal(FileHeader.GeneratorName)}, {Describe.Literal(FileHeader.GeneratorVersion)})]");
        w.Line($"public sealed partial class {c} : global::System.IDisposable");
        using (w.Block())
        {
            w.Line("/// <summary>The model ID this class was generated for.</summary>");
            w.Line($"public const string ModelId = {Describe.Literal(model.ModelId)};");
            w.Line();
            w.Line("/// <summary>SHA-256 (lower-case hex) of the manifest this class was generated from; the pack must belong to it.</summary>");
            w.Line($"public const string ManifestSha256 = {Describe.Literal(model.ManifestSha256)};");
            w.Line();
            w.Line($"private readonly {LanguageModel} _model;");
            w.Line();
            w.Line("/// <summary>");
            w.Line($"/// Opens the model: finds its pack (embedded in this assembly or beside it), checks it against");
            w.Line($"/// <see cref=\"ManifestSha256\"/> and every layer's constants, and maps it.");
            w.Line("/// </summary>");
            w.Line("/// <param name=\"options\">The backend and threads; null for the defaults (CPU, every core).</param>");
            w.Line("/// <exception cref=\"global::SagePtq.Runtime.ModelFileException\">The pack is missing, damaged, or belongs to another manifest.</exception>");
            w.Line($"public {c}({LanguageModelOptions}? options = null)");
            using (w.Block())
            {
                w.Line($"_model = {CompiledModel}.Open(typeof({c}).Assembly, Plan, Layers, options);");
            }
            w.Line();
            w.Line("/// <summary>The runtime model this class wraps, for APIs that take a <c>LanguageModel</c>.</summary>");
            w.Line($"public {LanguageModel} Model => _model;");
            w.Line();
            w.Line("/// <summary>The model's tokenizer.</summary>");
            w.Line($"public {Tokenizer} Tokenizer => _model.Tokenizer;");
            w.Line();
            w.Line("/// <summary>The architecture the model was read with.</summary>");
            w.Line($"public {ModelConfig} Config => _model.Config;");
            w.Line();
            w.Line("/// <summary>");
            w.Line("/// Continues <paramref name=\"prompt\"/> and returns the generated text (without the prompt): tokens are sampled");
            w.Line("/// as <paramref name=\"options\"/> says until the token limit, an end-of-sequence token or a stop sequence.");
            w.Line("/// Waits while another generation runs on this instance.");
            w.Line("/// </summary>");
            w.Line("/// <param name=\"prompt\">The text to continue.</param>");
            w.Line("/// <param name=\"options\">Sampling and limits; null for the defaults.</param>");
            w.Line("/// <param name=\"cancellationToken\">Stops the generation before its next token.</param>");
            w.Line($"public string Generate(string prompt, {GenerationOptions}? options = null, {CancellationToken} cancellationToken = default) =>");
            w.Line("    _model.Generate(prompt, options, cancellationToken);");
            w.Line();
            w.Line("/// <summary>");
            w.Line("/// Continues <paramref name=\"prompt\"/> and streams the generated text piece by piece as tokens are sampled;");
            w.Line("/// the enumeration holds this instance until it ends or is disposed.");
            w.Line("/// </summary>");
            w.Line("/// <param name=\"prompt\">The text to continue.</param>");
            w.Line("/// <param name=\"options\">Sampling and limits; null for the defaults.</param>");
            w.Line("/// <param name=\"cancellationToken\">Stops the generation before its next token.</param>");
            w.Line($"public {AsyncEnumerable}<string> GenerateAsync(string prompt, {GenerationOptions}? options = null, {CancellationToken} cancellationToken = default) =>");
            w.Line("    _model.GenerateAsync(prompt, options, cancellationToken);");
            w.Line();
            w.Line("/// <summary>Runs <paramref name=\"tokens\"/> from position 0 and returns the last position's logits (one per vocabulary entry).</summary>");
            w.Line("/// <param name=\"tokens\">Token IDs, at least one.</param>");
            w.Line($"public float[] Forward({ReadOnlySpan}<int> tokens) => _model.Forward(tokens);");
            w.Line();
            w.Line("/// <summary>The model as a <c>Microsoft.Extensions.AI</c> chat client (plain-text chat format).</summary>");
            w.Line($"public {ChatClient} AsChatClient() => {ChatExtensions}.AsIChatClient(_model);");
            w.Line();
            w.Line("/// <summary>Releases the mapped pack; a running generation stops before its next token.</summary>");
            w.Line("public void Dispose() => _model.Dispose();");
            w.Line();
            w.Line("/// <summary>The constants of every linear, layer by layer, which the runtime checks against the manifest.</summary>");
            w.Line($"internal static {ModelPlan} Plan {{ get; }} = new {ModelPlan}(ModelId, ManifestSha256, new {LayerPlan}[]");
            using (w.Block(");"))
            {
                foreach (var layer in model.Layers)
                {
                    var n = "Layer" + model.LayerNumber(layer.Index);
                    w.Line($"new {LayerPlan}({Describe.Int(layer.Index)}, {n}.Query, {n}.Key, {n}.Value, {n}.Output, {n}.Gate, {n}.Up, {n}.Down),");
                }
            }
            w.Line();
            w.Line("/// <summary>The CPU forward step of each decoder layer, in layer order.</summary>");
            w.Line($"internal static {ReadOnlyList}<{CpuLayerForward}> Layers {{ get; }} = new {CpuLayerForward}[]");
            using (w.Block(";"))
            {
                foreach (var layer in model.Layers)
                    w.Line($"Layer{model.LayerNumber(layer.Index)}.Forward,");
            }
        }
        return w.ToString();
    }
}
