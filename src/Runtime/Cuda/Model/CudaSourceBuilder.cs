using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Packing.Layouts;

namespace SagePtq.Runtime.Cuda.Model;

/// <summary>One decoder layer's CUDA source and the kernels it defines (in forward order).</summary>
public sealed record CudaLayerSource(int Layer, string Source, IReadOnlyList<string> Kernels);

/// <summary>
/// Linears of a decoder layer that read the same normalized input and run as one gemv launch (indexes into
/// <see cref="CudaSourceBuilder.Roles"/>), with the input norm folded into their sage linears' prepare launch.
/// <paramref name="SwiGlu"/>: the launch writes silu(gate)·up instead of the two outputs.
/// </summary>
public sealed record CudaFusedGroup(string Name, IReadOnlyList<int> Roles, bool SwiGlu);

/// <summary>
/// The CUDA C++ a pack needs, built from its manifest at run time, for packs without a generated model
/// class. The per-layer and model-wide sources are the ones the source generator emits (src/Generator/Emit,
/// LayerCudaEmitter and ModelCudaEmitter): the same template instantiation rule (rows, cols, then the
/// layout's parameters in ordinal key order) and the same text, which a test holds equal to the
/// generator's verified snapshots. <see cref="BackendSource"/> adds the decode loop's model-wide kernels (RoPE and
/// attention in one launch that reads the position from device memory, so one captured graph serves every token;
/// a block-32 int8 quantizer for a uniform o_proj; the LM head and the greedy argmax), and
/// <see cref="LayerDecodeSource"/> each layer's own: a <c>prepare_activation</c> wrapper per sage linear and the
/// launches that run several linears of the layer at once.
/// </summary>
public sealed class CudaSourceBuilder
{
    /// <summary>The name every source includes the header by.</summary>
    public const string HeaderName = "sageptq.cuh";

    /// <summary>What the first line of each source says made it, unless the caller names another maker.</summary>
    public const string DefaultGeneratedBy = "SagePtq.Runtime CudaSourceBuilder";

    /// <summary>The model-wide kernels <see cref="ModelSource"/> defines, in order.</summary>
    public static IReadOnlyList<string> ModelKernels { get; } = ["rms_norm_quantize", "rope_and_cache", "attention", "swiglu_quantize", "add_residual"];

    /// <summary>The layouts with a CUDA kernel, with the parameter keys each must have.</summary>
    public static IReadOnlyDictionary<string, string[]> CudaLayouts { get; } = new Dictionary<string, string[]>(StringComparer.Ordinal)
    {
        ["f16"] = [],
        ["sage"] = ["flags", "groups", "salient_bits", "salient_count", "scale_mode"],
        ["uniform"] = ["bits", "group_size"],
    };

    /// <summary>The seven linears of a decoder layer, in forward order.</summary>
    public static IReadOnlyList<string> Roles { get; } =
        ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"];

    /// <summary>The fused launches of every decoder layer: q, k, v; gate and up with the SwiGLU.</summary>
    public static IReadOnlyList<CudaFusedGroup> FusedGroups { get; } = [new("qkv", [0, 1, 2], SwiGlu: false), new("gate_up", [4, 5], SwiGlu: true)];

    /// <summary>The kernels of <see cref="BackendSource"/>, by name.</summary>
    public const string EmbedKernel = "embed_token", RopeAttentionKernel = "rope_attention_at", SpinKernel = "spin", QuantizeKernel = "quantize_block32",
        LmHeadKernel = "lm_head", GreedyKernel = "greedy_token";

    /// <summary>The kernels <see cref="BackendSource"/> defines, in order.</summary>
    public static IReadOnlyList<string> BackendKernels { get; } = [EmbedKernel, RopeAttentionKernel, SpinKernel, QuantizeKernel, LmHeadKernel, GreedyKernel];

    private readonly PackManifest _manifest;
    private readonly string _modelId;
    private readonly string _manifestSha256;
    private readonly string _generatedBy;
    private readonly int _layerDigits;

    /// <summary>Builds the sources of <paramref name="manifest"/>.</summary>
    /// <param name="manifest">The pack's manifest.</param>
    /// <param name="modelId">The model's name as the sources' comments give it (the generator's model ID).</param>
    /// <param name="manifestSha256">SHA-256 of the manifest file's bytes, lower-case hex (the sources' provenance line).</param>
    /// <param name="generatedBy">The maker named in each source's first line.</param>
    /// <param name="sageRowsPerWarp">Rows a warp takes at once on the sage fast path (<see cref="SageRowsPerWarp"/>).</param>
    /// <exception cref="ArgumentException">A decoder layer lacks one of its seven linears.</exception>
    public CudaSourceBuilder(PackManifest manifest, string modelId, string manifestSha256, string generatedBy = DefaultGeneratedBy,
        int sageRowsPerWarp = DefaultSageRowsPerWarp)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentException.ThrowIfNullOrEmpty(modelId);
        ArgumentException.ThrowIfNullOrEmpty(manifestSha256);
        ArgumentException.ThrowIfNullOrEmpty(generatedBy);
        ArgumentOutOfRangeException.ThrowIfLessThan(sageRowsPerWarp, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(sageRowsPerWarp, 8);
        SageRowsPerWarp = sageRowsPerWarp;
        _manifest = manifest;
        _modelId = modelId;
        _manifestSha256 = manifestSha256;
        _generatedBy = generatedBy;
        int layers = manifest.Architecture.NumLayers;
        _layerDigits = layers <= 100 ? 2 : (layers - 1).ToString(CultureInfo.InvariantCulture).Length;
        for (int layer = 0; layer < layers; layer++)
            foreach (var role in Roles)
                if (manifest.FindLinear(LinearName(layer, role)) is null)
                    throw new ArgumentException($"the manifest has no linear {LinearName(layer, role)}", nameof(manifest));
    }

    /// <summary>The builder for <paramref name="pack"/>: model ID = the pack folder's name, SHA-256 of its manifest file.</summary>
    public static CudaSourceBuilder ForPack(PackedModel pack, int sageRowsPerWarp = DefaultSageRowsPerWarp)
    {
        ArgumentNullException.ThrowIfNull(pack);
        // The file's hash where there is a file (what the generator prints); a pack opened from memory has none.
        var manifestPath = Path.Combine(pack.Directory, PackFormat.ManifestFileName);
        var manifestBytes = File.Exists(manifestPath) ? File.ReadAllBytes(manifestPath) : ManifestJson.Serialize(pack.Manifest);
        string id = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(pack.Directory)));
        return new CudaSourceBuilder(pack.Manifest, string.IsNullOrEmpty(id) ? "model" : id, Sha256Hex(manifestBytes), sageRowsPerWarp: sageRowsPerWarp);
    }

    /// <summary>Lower-case hex SHA-256 of <paramref name="bytes"/>.</summary>
    public static string Sha256Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    /// <summary>The text of templates/cuda/sageptq.cuh (line ends \n), embedded in SagePtq.Runtime.</summary>
    public static string HeaderText => LazyHeader.Value;

    private static readonly Lazy<string> LazyHeader = new(() =>
    {
        using var stream = typeof(CudaSourceBuilder).Assembly.GetManifestResourceStream("SagePtq.Runtime.sageptq.cuh")
            ?? throw new InvalidOperationException("sageptq.cuh is not embedded in SagePtq.Runtime (templates/cuda was missing at build time)");
        using var reader = new StreamReader(stream, new UTF8Encoding(false), detectEncodingFromByteOrderMarks: true);
        return reader.ReadToEnd().Replace("\r\n", "\n", StringComparison.Ordinal);
    });

    /// <summary>The pack name of linear <paramref name="role"/> of decoder layer <paramref name="layer"/>.</summary>
    public static string LinearName(int layer, string role) => $"model.layers.{layer.ToString(CultureInfo.InvariantCulture)}.{role}.weight";

    /// <summary>The kernel name of a decoder linear: <c>layer03_self_attn_q_proj</c>.</summary>
    public string KernelName(int layer, string role) => "layer" + LayerNumber(layer) + "_" + role.Replace('.', '_');

    /// <summary>The <c>prepare_activation</c> wrapper of a sage decoder linear: <c>layer03_self_attn_q_proj_prepare</c>.</summary>
    public string PrepareKernelName(int layer, string role) => KernelName(layer, role) + "_prepare";

    /// <summary>The gemv kernel of a fused group: <c>layer03_qkv</c>, <c>layer03_gate_up</c>.</summary>
    public string FusedKernelName(int layer, CudaFusedGroup group) => "layer" + LayerNumber(layer) + "_" + group.Name;

    /// <summary>The norm + prepare kernel of a fused group's sage linears: <c>layer03_qkv_prepare</c>.</summary>
    public string FusedPrepareKernelName(int layer, CudaFusedGroup group) => FusedKernelName(layer, group) + "_prepare";

    /// <summary>The layer number as kernel names write it: two digits, more from 100 layers up.</summary>
    public string LayerNumber(int layer) => layer.ToString(new string('0', _layerDigits), CultureInfo.InvariantCulture);

    /// <summary>The model-wide kernels instantiated with the architecture constants (the generator's <c>Cuda.ModelSource</c>).</summary>
    public string ModelSource()
    {
        var a = _manifest.Architecture;
        var s = Begin("Model-wide kernels");
        void Kernel(string comment, string name, string args, string templateArgs)
        {
            s.Append('\n').Append("// ").Append(comment).Append('\n');
            s.Append("extern \"C\" __global__ void ").Append(name).Append("(const sageptq::").Append(args).Append(" args) { sageptq::")
                .Append(name).Append('<').Append(templateArgs).Append(">(args); }\n");
        }
        Kernel($"RMSNorm over hidden {I(a.HiddenSize)}, then the activations quantized for the next linear", "rms_norm_quantize", "NormArgs", I(a.HiddenSize));
        Kernel($"rotary embedding on {I(a.NumHeads)} query heads and {I(a.NumKeyValueHeads)} key heads of size {I(a.HeadDim)}; keys and values into the cache",
            "rope_and_cache", "RopeArgs", $"{I(a.NumHeads)}, {I(a.NumKeyValueHeads)}, {I(a.HeadDim)}");
        Kernel($"causal attention: {I(a.NumHeads)} heads over {I(a.NumKeyValueHeads)} key/value heads of size {I(a.HeadDim)}",
            "attention", "AttentionArgs", $"{I(a.NumHeads)}, {I(a.NumKeyValueHeads)}, {I(a.HeadDim)}");
        Kernel($"SwiGLU over intermediate {I(a.IntermediateSize)}, then the activations quantized for down_proj", "swiglu_quantize", "SwigluArgs", I(a.IntermediateSize));
        Kernel($"residual add over hidden {I(a.HiddenSize)}", "add_residual", "ResidualArgs", I(a.HiddenSize));
        return s.ToString();
    }

    /// <summary>Every decoder layer's source (the generator's <c>Cuda.LayerSources</c>).</summary>
    public IReadOnlyList<CudaLayerSource> LayerSources() =>
        Enumerable.Range(0, _manifest.Architecture.NumLayers).Select(LayerSource).ToArray();

    /// <summary>Decoder layer <paramref name="layer"/>'s source: one gemv kernel per linear with a CUDA layout.</summary>
    public CudaLayerSource LayerSource(int layer)
    {
        var s = Begin("Layer " + I(layer));
        var kernels = new List<string>();
        foreach (var role in Roles)
        {
            var linear = _manifest.FindLinear(LinearName(layer, role))!;
            s.Append('\n').Append("// ").Append(Describe(layer, role, linear)).Append('\n');
            if (!CudaLayouts.ContainsKey(linear.Layout))
            {
                s.Append("// no kernel: the ").Append(linear.Layout).Append(" layout has no CUDA implementation (SPQ1004); this model runs on the CPU backend\n");
                continue;
            }
            string name = KernelName(layer, role);
            kernels.Add(name);
            s.Append("extern \"C\" __global__ void __launch_bounds__(SAGEPTQ_THREADS) ").Append(name).Append("(const sageptq::LinearArgs args)\n");
            s.Append("{\n");
            s.Append("    sageptq::").Append(linear.Layout).Append("::gemv<").Append(TemplateArguments(linear)).Append(">(args);\n");
            s.Append("}\n");
        }
        return new CudaLayerSource(layer, s.ToString(), kernels);
    }

    /// <summary>
    /// Decoder layer <paramref name="layer"/>'s own decode-loop kernels, one module per layer so that NVRTC compiles
    /// them side by side: the <c>prepare_activation</c> wrapper of each sage linear (the seven layout constants
    /// without the rotation seed, which travels in <see cref="PrepareArgs"/>), then the fused launches
    /// (<see cref="FusedGroups"/>): per group, a prepare kernel that normalizes the layer's input and makes each sage
    /// member's activation (one CTA per member, tokens in y), and one gemv kernel for all members (each takes its own
    /// range of CTAs, or, for gate and up, a warp computes a row of both and writes the SwiGLU). The linears' own gemvs
    /// stay in <see cref="LayerSource"/>.
    /// </summary>
    /// <exception cref="NotSupportedException">A linear's layout has no CUDA kernel (the pack runs on the CPU only).</exception>
    public CudaLayerSource LayerDecodeSource(int layer)
    {
        var s = Begin("Decode-loop kernels of layer " + I(layer));
        var kernels = new List<string>();
        foreach (var role in Roles)
        {
            var linear = CudaLinear(LinearName(layer, role));
            if (linear.Layout != "sage") continue;
            string name = PrepareKernelName(layer, role);
            kernels.Add(name);
            s.Append('\n').Append("// ").Append(Describe(layer, role, linear)).Append(": its activation, while its weights stream into L2\n");
            s.Append("extern \"C\" __global__ void __launch_bounds__(SAGEPTQ_THREADS) ").Append(name)
                .Append("(const sageptq::sage::PrepareArgs args, const sageptq::PrefetchArgs prefetch)\n{\n")
                .Append(PrefetchFirst)
                .Append("    sageptq::sage::prepare_activation<").Append(SageConstants(linear)).Append(">(args);\n}\n");
        }
        foreach (var group in FusedGroups)
        {
            var members = group.Roles.Select(role => (Role: Roles[role], Linear: CudaLinear(LinearName(layer, Roles[role])))).ToArray();
            string names = string.Join(", ", members.Select(m => Parameter(m.Role)));
            var prepared = members.Where(m => m.Linear.Layout == "sage").ToArray();
            if (prepared.Length > 0)
            {
                string name = FusedPrepareKernelName(layer, group);
                kernels.Add(name);
                s.Append('\n').Append("// layer ").Append(I(layer)).Append(' ').Append(names)
                    .Append(": the input RMSNorm, then each sage linear's activation (rotated, folded, salient columns cleared, int8); one CTA per linear, tokens in y;\n")
                    .Append("// meanwhile the weights of the gemv launched next stream into L2\n");
                s.Append("extern \"C\" __global__ void __launch_bounds__(SAGEPTQ_THREADS) ").Append(name).Append('(')
                    .Append(string.Join(", ", prepared.Select(m => "const sageptq::sage::PrepareArgs " + Parameter(m.Role))))
                    .Append(", const float* norm_weight, float eps, const sageptq::PrefetchArgs prefetch)\n{\n")
                    .Append(PrefetchFirst);
                for (int i = 0; i < prepared.Length; i++)
                {
                    s.Append("    ").Append(i == 0 ? "" : "else ").Append(i == prepared.Length - 1 ? "" : $"if (blockIdx.x == {I(i)}) ")
                        .Append("sageptq::sage::prepare_token<").Append(SageConstants(prepared[i].Linear)).Append(">(")
                        .Append(Parameter(prepared[i].Role)).Append(", norm_weight, eps, blockIdx.y);\n");
                }
                s.Append("}\n");
            }
            string gemv = FusedKernelName(layer, group);
            kernels.Add(gemv);
            string parameters = string.Join(", ", members.Select(m => "const sageptq::LinearArgs " + Parameter(m.Role)));
            if (group.SwiGlu)
            {
                s.Append('\n').Append("// layer ").Append(I(layer)).Append(' ').Append(names).Append(" in one launch with the SwiGLU: a warp computes the same rows of both and writes silu(gate)·up to ")
                    .Append(Parameter(members[0].Role)).Append(".output; ")
                    .Append(I(SwiGluRowsPerCta(members[0].Linear, members[1].Linear))).Append(" rows a CTA\n");
                s.Append("extern \"C\" __global__ void __launch_bounds__(SAGEPTQ_THREADS) ").Append(gemv).Append('(').Append(parameters).Append(")\n{\n");
                s.Append("    sageptq::gemv_swiglu<").Append(string.Join(", ", members.Select(m => LinearType(m.Linear)))).Append(">(")
                    .Append(names).Append(");\n}\n");
                continue;
            }
            var ctas = members.Select(m => GemvCtas(m.Linear)).ToArray();
            s.Append('\n').Append("// layer ").Append(I(layer)).Append(' ').Append(names).Append(" in one launch:");
            uint first = 0;
            for (int i = 0; i < members.Length; i++)
            {
                s.Append(i == 0 ? " CTAs " : ", ").Append(I(first)).Append('–').Append(I(first + ctas[i] - 1)).Append(' ').Append(Parameter(members[i].Role))
                    .Append(" (").Append(I(members[i].Linear.Rows)).Append(" rows, ").Append(I(RowsPerCta(members[i].Linear))).Append(" a CTA)");
                first += ctas[i];
            }
            s.Append('\n');
            s.Append("extern \"C\" __global__ void __launch_bounds__(SAGEPTQ_THREADS) ").Append(gemv).Append('(').Append(parameters).Append(")\n{\n");
            first = 0;
            for (int i = 0; i < members.Length; i++)
            {
                bool last = i == members.Length - 1;
                s.Append("    ").Append(i == 0 ? "" : "else ").Append(last ? "" : $"if (blockIdx.x < {I(first + ctas[i])}) ")
                    .Append("sageptq::gemv_ctas<").Append(LinearType(members[i].Linear)).Append(">(").Append(Parameter(members[i].Role))
                    .Append(", blockIdx.x").Append(first == 0 ? "" : $" - {I(first)}").Append(", ").Append(I(ctas[i])).Append(");\n");
                first += ctas[i];
            }
            s.Append("}\n");
        }
        return new CudaLayerSource(layer, s.ToString(), kernels);
    }

    /// <summary>A prepare kernel's first statement: its first CTA starts the next gemv's weights on their way into L2.</summary>
    private const string PrefetchFirst = "    if (blockIdx.x == 0 && blockIdx.y == 0) sageptq::prefetch_l2(prefetch);\n";

    /// <summary>A source's first two lines: what it holds and its provenance (the generator's wording), then the header's include.</summary>
    private StringBuilder Begin(string what) => new StringBuilder()
        .Append("// ").Append(what).Append(" of ").Append(_modelId).Append(" (").Append(_manifest.Method).Append("), generated by ")
        .Append(_generatedBy).Append(" from manifest ").Append(_manifestSha256).Append('\n')
        .Append("#include \"").Append(HeaderName).Append("\"\n");

    /// <summary>Warps in a CTA of every kernel (SAGEPTQ_THREADS / 32 in the header).</summary>
    public const int WarpsPerCta = 8;

    /// <summary>The header's default for <see cref="SageRowsPerWarp"/> (SAGEPTQ_SAGE_ROWS_PER_WARP).</summary>
    public const int DefaultSageRowsPerWarp = 4;

    /// <summary>Rows a warp takes at once on the sage fast path, 1 to 8: a tuning knob, for <c>bench --rows-per-warp</c> to measure.</summary>
    public int SageRowsPerWarp { get; }

    /// <summary>The NVRTC options every source of this builder is compiled with: the header's constants it sizes grids by.</summary>
    public IReadOnlyList<string> CompileOptions => [$"-DSAGEPTQ_SAGE_ROWS_PER_WARP={I(SageRowsPerWarp)}"];

    /// <summary>
    /// Rows of <paramref name="linear"/> one warp takes at once: the header's <c>Linear::RowsPerWarp</c>,
    /// <see cref="SageRowsPerWarp"/> on the sage fast path (scales folded into the activation, sign rows of whole
    /// 16-byte chunks), else one. The grid only sizes the work (gemv_ctas strides its rows over any grid), so a
    /// mismatch would cost speed, not results; a test holds the two rules equal.
    /// </summary>
    public int RowsPerWarp(LinearRecord linear) => RowsPerWarp(linear, SageRowsPerWarp);

    /// <summary>The rule of <see cref="RowsPerWarp(LinearRecord)"/> for a given setting of the knob.</summary>
    public static int RowsPerWarp(LinearRecord linear, int sageRowsPerWarp)
    {
        ArgumentNullException.ThrowIfNull(linear);
        if (linear.Layout != "sage") return 1;
        var flags = (SageFlags)linear.Parameters["flags"];
        bool folded = linear.Parameters["scale_mode"] != 2 && (flags & SageFlags.GroupPerWeight) == 0;
        bool wholeChunks = (linear.Cols + 7) / 8 % 16 == 0;
        return folded && wholeChunks ? sageRowsPerWarp : 1;
    }

    /// <summary>The CTAs a gemv launch of <paramref name="linear"/> gets: one per <see cref="RowsPerCta"/> rows.</summary>
    public uint GemvCtas(LinearRecord linear) => Dim3.BlocksFor(linear.Rows, (uint)RowsPerCta(linear));

    /// <summary>The CTAs of gate and up's SwiGLU launch: one per <see cref="SwiGluRowsPerCta"/> rows.</summary>
    public uint SwiGluCtas(LinearRecord gate, LinearRecord up) => Dim3.BlocksFor(gate.Rows, (uint)SwiGluRowsPerCta(gate, up));

    /// <summary>Rows of <paramref name="linear"/> a CTA takes at once: <see cref="WarpsPerCta"/>·<see cref="RowsPerWarp(LinearRecord)"/>.</summary>
    private int RowsPerCta(LinearRecord linear) => WarpsPerCta * RowsPerWarp(linear);

    /// <summary>Rows of gate and up a CTA of their SwiGLU launch takes: a warp takes the smaller of their rows per warp.</summary>
    private int SwiGluRowsPerCta(LinearRecord gate, LinearRecord up) => WarpsPerCta * Math.Min(RowsPerWarp(gate), RowsPerWarp(up));

    /// <summary>A kernel parameter's name for a role: <c>q_proj</c>.</summary>
    private static string Parameter(string role) => role[(role.LastIndexOf('.') + 1)..];

    /// <summary>A decoder linear that has a CUDA kernel.</summary>
    private LinearRecord CudaLinear(string name) => Supported(_manifest.FindLinear(name)!);

    /// <summary><paramref name="linear"/>, if its layout has a CUDA kernel.</summary>
    /// <exception cref="NotSupportedException">It has none: the pack runs on the CPU backend only.</exception>
    private static LinearRecord Supported(LinearRecord linear) => CudaLayouts.ContainsKey(linear.Layout) ? linear
        : throw new NotSupportedException($"{linear.Name} uses the '{linear.Layout}' layout, which has no CUDA kernel: this pack runs on the CPU backend only");

    /// <summary>The header's Linear type of a linear (the gemv as a type, for the fused launches).</summary>
    private static string LinearType(LinearRecord linear) => linear.Layout == "sage"
        ? $"sageptq::sage::Linear<{SageConstants(linear)}>"
        : $"sageptq::{linear.Layout}::Linear<{TemplateArguments(linear)}>";

    /// <summary>rows, cols and the seven sage constants without the rotation seed (the prepare and Linear templates' form).</summary>
    private static string SageConstants(LinearRecord linear) =>
        string.Join(", ", [I(linear.Rows), I(linear.Cols), .. CudaLayouts["sage"].Select(key => I(DeviceValue(linear, key, linear.Parameters[key])))]);

    /// <summary>
    /// The decode loop's model-wide kernels: RoPE, the cache write and attention in one launch, taking the position
    /// from device memory; the step profile's spin; a block-32 quantizer (for a uniform o_proj and the kernel
    /// checks); the LM head's gemv and the greedy argmax. Each layer's own are in <see cref="LayerDecodeSource"/>.
    /// </summary>
    /// <exception cref="NotSupportedException">The LM head's layout has no CUDA kernel (the pack runs on the CPU only).</exception>
    public string BackendSource(LinearRecord lmHead)
    {
        ArgumentNullException.ThrowIfNull(lmHead);
        var a = _manifest.Architecture;
        var s = Begin("Decode-loop kernels");
        string heads = $"{I(a.NumHeads)}, {I(a.NumKeyValueHeads)}, {I(a.HeadDim)}";
        s.Append('\n').Append("// the step's input: x = the embedding row of step[0], the token (step = {token, position} in device memory)\n");
        s.Append("extern \"C\" __global__ void __launch_bounds__(SAGEPTQ_THREADS) ").Append(EmbedKernel)
            .Append("(const float* table, const int* step, float* x)\n")
            .Append("{\n    sageptq::embed<").Append(I(a.HiddenSize)).Append(">(table, step, x);\n}\n");
        s.Append('\n').Append("// RoPE, the cache write and attention in one launch (one CTA per query head), at the position held in device memory,\n")
            .Append("// so one captured graph serves every token\n");
        s.Append("extern \"C\" __global__ void __launch_bounds__(SAGEPTQ_THREADS) ").Append(RopeAttentionKernel)
            .Append("(const sageptq::RopeArgs rope, const sageptq::AttentionArgs attention, const int* position)\n")
            .Append("{\n    sageptq::RopeArgs r = rope;\n    sageptq::AttentionArgs a = attention;\n    r.position = a.position = *position;\n")
            .Append("    sageptq::rope_attention<").Append(heads).Append(">(r, a);\n}\n");
        s.Append('\n').Append("// the step profile's queue filler: keeps the GPU busy for a while (its own clock) so that the host can queue the timed launches\n");
        s.Append("extern \"C\" __global__ void ").Append(SpinKernel).Append("(long long nanoseconds)\n")
            .Append("{\n    sageptq::spin(nanoseconds);\n}\n");
        s.Append('\n').Append("// a float vector of n in int8 blocks of 32 (the uniform layout's activation) where no norm or SwiGLU made it; one CTA\n");
        s.Append("extern \"C\" __global__ void __launch_bounds__(SAGEPTQ_THREADS) ").Append(QuantizeKernel)
            .Append("(const float* x, int n, sageptq::int8_t* codes, float* scales, sageptq::int32_t* sums)\n")
            .Append("{\n    sageptq::quantize_rows_warp(x, n, 32, codes, scales, sums);\n}\n");
        Supported(lmHead);
        s.Append('\n').Append("// ").Append(lmHead.Name).Append(": ").Append(I(lmHead.Cols)).Append('→').Append(I(lmHead.Rows)).Append(", ").Append(lmHead.Layout).Append('\n');
        s.Append("extern \"C\" __global__ void __launch_bounds__(SAGEPTQ_THREADS) ").Append(LmHeadKernel).Append("(const sageptq::LinearArgs args)\n");
        s.Append("{\n    sageptq::").Append(lmHead.Layout).Append("::gemv<").Append(TemplateArguments(lmHead)).Append(">(args);\n}\n");
        s.Append('\n').Append("// the greedy next token, the argmax of the ").Append(I(lmHead.Rows)).Append(" logits, becomes the next step's input: step = {token, position + 1},\n")
            .Append("// so a greedy decode copies nothing in and one id out; one CTA\n");
        s.Append("extern \"C\" __global__ void __launch_bounds__(SAGEPTQ_THREADS) ").Append(GreedyKernel).Append("(const float* logits, int* step)\n");
        s.Append("{\n    sageptq::argmax(logits, ").Append(I(lmHead.Rows)).Append(", step);\n    if (threadIdx.x == 0) step[1] += 1;\n}\n");
        return s.ToString();
    }

    /// <summary>rows, cols, then the parameter values in ordinal key order (the generator's rule).</summary>
    public static string TemplateArguments(LinearRecord linear)
    {
        ArgumentNullException.ThrowIfNull(linear);
        var s = new StringBuilder().Append(I(linear.Rows)).Append(", ").Append(I(linear.Cols));
        foreach (var (key, value) in linear.Parameters.OrderBy(p => p.Key, StringComparer.Ordinal)) s.Append(", ").Append(I(DeviceValue(linear, key, value)));
        return s.ToString();
    }

    /// <summary>
    /// A parameter as the CUDA templates take it: a sage linear's flags without <see cref="SageFlags.TiledSigns"/>,
    /// since its signs are untiled on upload (<see cref="PackSections.Of"/>) and the device reads plane-order rows.
    /// </summary>
    private static int DeviceValue(LinearRecord linear, string key, int value) =>
        linear.Layout == "sage" && key == "flags" ? value & ~(int)SageFlags.TiledSigns : value;

    /// <summary>The generator's CUDA comment: <c>layer 3 self_attn.q_proj: 256→256, sage, K=3 groups, 0.4% salient at 4 bits</c>.</summary>
    private static string Describe(int layer, string role, LinearRecord linear) =>
        $"layer {I(layer)} {role}: {I(linear.Cols)}→{I(linear.Rows)}, {linear.Layout}, {Constants(linear)}";

    private static string Constants(LinearRecord linear)
    {
        switch (linear.Layout)
        {
            case "f16":
                return "16-bit floats";
            case "uniform":
                return $"{I(Parameter(linear, "bits"))}-bit codes in groups of {I(Parameter(linear, "group_size"))}";
            default:
                var stats = linear.Stats;
                var groups = stats.GroupCount == 1 ? "K=1 group" : $"K={I(stats.GroupCount)} groups";
                string percent = (stats.SaliencyRatio * 100).ToString("0.0", CultureInfo.InvariantCulture) + "%";
                return $"{groups}, {percent} salient at {I(stats.SalientBits)} bits";
        }
    }

    private static long Parameter(LinearRecord linear, string key) => linear.Parameters.TryGetValue(key, out int v) ? v : 0;

    private static string I(long value) => value.ToString(CultureInfo.InvariantCulture);
}
