namespace SagePtq.Generator.Model;

/// <summary>
/// Everything the emitters need for one model, read from its manifest: value-equatable, so the
/// emit step runs only when one of these values changes (see <see cref="ManifestInput"/> for the rules).
/// </summary>
/// <param name="ModelId">The model ID (item metadata), e.g. <c>sagelm-7m</c>.</param>
/// <param name="ClassName">The generated class's name, e.g. <c>SageLm7mModel</c>.</param>
/// <param name="Namespace">The generated class's namespace, or null for the global namespace.</param>
/// <param name="PackMode">How the pack travels with the app (<c>Embed</c>, <c>Copy</c>), or null when not said.</param>
/// <param name="ManifestPath">The manifest's path (for diagnostics only; emitted files show its file name).</param>
/// <param name="ManifestSha256">Lower-case hex SHA-256 of the manifest's UTF-8 bytes.</param>
/// <param name="MethodName">The quantization method (<c>method.name</c>).</param>
/// <param name="Architecture">The architecture constants.</param>
/// <param name="Layers">The decoder layers in index order.</param>
internal sealed record ModelSpec(
    string ModelId,
    string ClassName,
    string? Namespace,
    string? PackMode,
    string ManifestPath,
    string ManifestSha256,
    string MethodName,
    ArchitectureSpec Architecture,
    EquatableArray<LayerSpec> Layers)
{
    /// <summary>Digits of a layer number in names (<c>Layer07</c>): two, or more for 100 layers and up.</summary>
    public int LayerDigits => Layers.Count <= 100 ? 2 : (Layers.Count - 1).ToString(System.Globalization.CultureInfo.InvariantCulture).Length;

    /// <summary>The layer number padded to <see cref="LayerDigits"/> (<c>07</c>).</summary>
    public string LayerNumber(int index) => index.ToString(new string('0', LayerDigits), System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>The architecture constants the generated forward pass and kernels bake in.</summary>
internal sealed record ArchitectureSpec(
    int HiddenSize,
    int IntermediateSize,
    int NumLayers,
    int NumHeads,
    int NumKeyValueHeads,
    int HeadDim,
    int VocabSize);

/// <summary>One decoder layer: its seven linears, in the order the forward pass uses them.</summary>
internal sealed record LayerSpec(
    int Index,
    LinearSpec Query,
    LinearSpec Key,
    LinearSpec Value,
    LinearSpec Output,
    LinearSpec Gate,
    LinearSpec Up,
    LinearSpec Down)
{
    /// <summary>The seven linears in forward order (q, k, v, o, gate, up, down).</summary>
    public LinearSpec[] Linears => new[] { Query, Key, Value, Output, Gate, Up, Down };
}

/// <summary>
/// One quantized linear of a decoder layer, as its manifest record says.
/// </summary>
/// <param name="Name">The checkpoint name, e.g. <c>model.layers.3.self_attn.q_proj.weight</c>.</param>
/// <param name="Role">The name within the layer, e.g. <c>self_attn.q_proj</c>.</param>
/// <param name="Layer">The decoder layer index.</param>
/// <param name="Rows">Output features.</param>
/// <param name="Cols">Input features.</param>
/// <param name="Layout">The layout name (<c>sage</c>, <c>uniform</c>, <c>f16</c>, <c>billm</c>, <c>pbllm</c>, …).</param>
/// <param name="Parameters">The layout's integer parameters, sorted by key (ordinal).</param>
/// <param name="GroupCount">Group count K.</param>
/// <param name="SaliencyRatio">Salient weights / (rows × cols).</param>
/// <param name="SalientCount">Salient weights.</param>
/// <param name="SalientBits">Bit width of the salient weights.</param>
/// <param name="StorageBitsPerWeight">8 × stored bytes / (rows × cols) (DESIGN.md §3).</param>
internal sealed record LinearSpec(
    string Name,
    string Role,
    int Layer,
    int Rows,
    int Cols,
    string Layout,
    EquatableArray<LayoutParameter> Parameters,
    int GroupCount,
    double SaliencyRatio,
    long SalientCount,
    int SalientBits,
    double StorageBitsPerWeight);

/// <summary>One integer parameter of a layout (<c>groups</c> = 3).</summary>
internal sealed record LayoutParameter(string Key, long Value);
