using SagePtq.Runtime.Checkpoints;
using SagePtq.Runtime.Cpu;
using SagePtq.Runtime.Cuda.Compilation;
using SagePtq.Runtime.Generation;
using SagePtq.Runtime.Packing;

namespace SagePtq.Runtime.Cuda.Model;

/// <summary>
/// The LLaMA forward pass on the GPU, batch-1 decode: the kernel sequence of the CPU path
/// (<see cref="Compiled.CpuLayerStep"/>) per decoder layer, with the launches fused where they read the same
/// input: norm + the activations of the sage linears among q/k/v (one launch) → q, k, v gemvs (one launch) → RoPE,
/// the FP16 cache and attention (one launch) → o_proj into the residual → norm + gate/up activations → gate and up with the
/// SwiGLU (one launch) → down into the residual; then the final norm and the LM head. (A separate norm kernel runs
/// only for members that are not sage, which read h or its int8 blocks.) Every linear's sections are uploaded as
/// the pack stores them; the kernels are compiled with NVRTC through <see cref="CudaKernelCache"/> from
/// <see cref="CudaSourceBuilder"/>'s sources. The step reads its input, {token, position}, from device memory and
/// starts by looking the token up in an FP32 embedding table on the device; after the first token the whole step
/// is one <see cref="CudaGraph"/> replay, because every kernel argument is fixed. The step ends with the argmax of
/// the logits, which it writes back as the next step's input, so a greedy decode (<see cref="ForwardGreedy"/>)
/// copies nothing in and one id out; <see cref="Forward(int, int)"/> copies the logits. Prompts run one token at a time. Not thread-safe: one sequence at a time.
/// </summary>
public sealed class CudaModel : IGreedyLanguageModel, IDisposable
{
    private const uint Threads = 32 * CudaSourceBuilder.WarpsPerCta;

    private readonly PackedModel _pack;
    private readonly bool _ownsPack;
    private readonly CudaDevice _device;
    private readonly List<IDisposable> _owned = [];
    private readonly List<StepLaunch> _launches = [];
    private readonly Dictionary<string, LinearKernels> _linearKernels = new(StringComparer.Ordinal);
    private readonly DeviceWeights _weights;
    private readonly SageScratch[] _sage;
    private readonly CudaKernel _quantize, _spin;
    private readonly DeviceBuffer _checkInput, _checkOutput;
    private readonly Quantized _checkQuant;
    private readonly CudaStream _stream;
    private readonly DeviceBuffer _x, _step, _logits;
    private readonly float[] _hostLogits;
    private (int Token, int Position)? _deviceHolds;
    private readonly bool _useGraph;
    private CudaGraph? _graph;
    private bool _disposed;

    /// <summary>Opens the pack in <paramref name="packDirectory"/> on the GPU; disposing the model closes the pack.</summary>
    /// <exception cref="CudaUnavailableException">No usable CUDA device, or a layout without a CUDA kernel.</exception>
    /// <exception cref="ModelFileException">The pack is unusable.</exception>
    public static CudaModel Open(string packDirectory, CudaModelOptions? options = null)
    {
        var pack = PackedModel.Open(packDirectory);
        try { return new CudaModel(pack, options, ownsPack: true); }
        catch
        {
            pack.Dispose();
            throw;
        }
    }

    /// <summary>Runs an open pack on the GPU; the pack must outlive the model (its embedding is read from it).</summary>
    /// <exception cref="CudaUnavailableException">No usable CUDA device, or a layout without a CUDA kernel.</exception>
    public CudaModel(PackedModel pack, CudaModelOptions? options = null) : this(pack, options, ownsPack: false)
    {
    }

    private CudaModel(PackedModel pack, CudaModelOptions? options, bool ownsPack)
    {
        ArgumentNullException.ThrowIfNull(pack);
        options ??= new CudaModelOptions();
        var c = pack.Manifest.Architecture;
        var manifest = options.SyntheticFp16Weights ? Fp16Substitute.Manifest(pack.Manifest) : pack.Manifest;
        var plan = CudaDecodePlan.Create(manifest, options.ContextLength);
        if (!CudaDevice.TryOpen(out var device, out var reason, options.DeviceOrdinal))
            throw new CudaUnavailableException($"CUDA backend unavailable: {reason}");
        _device = device!;
        _pack = pack;
        try
        {
            ContextLength = plan.ContextLength;
            _useGraph = options.UseGraph;
            var sources = options.SyntheticFp16Weights
                ? new CudaSourceBuilder(manifest, "fp16-substitute", "0000000000000000000000000000000000000000000000000000000000000000",
                    sageRowsPerWarp: options.SageRowsPerWarp)
                : CudaSourceBuilder.ForPack(pack, options.SageRowsPerWarp);
            var log = options.Log ?? TextWriter.Null;
            var cache = new CudaKernelCache(NvrtcCompiler.Instance, options.KernelCacheDirectory, log);
            var headers = new Dictionary<string, string> { [CudaSourceBuilder.HeaderName] = CudaSourceBuilder.HeaderText };
            CudaCompileRequest Request(string name, string source) =>
                new(name, source, headers, _device.ComputeMajor, _device.ComputeMinor, sources.CompileOptions);
            var modelRequest = Request("model.cu", sources.ModelSource());
            var backendRequest = Request("decode.cu", sources.BackendSource(plan.LmHead));
            var layerRequests = sources.LayerSources().Select(l => Request($"layer{sources.LayerNumber(l.Layer)}.cu", l.Source)).ToArray();
            var layerDecodeRequests = Enumerable.Range(0, c.NumLayers)
                .Select(layer => Request($"decode{sources.LayerNumber(layer)}.cu", sources.LayerDecodeSource(layer).Source)).ToArray();
            CompileInParallel(cache, [modelRequest, backendRequest, .. layerRequests, .. layerDecodeRequests]);
            CudaModule Load(CudaCompileRequest request) => Own(cache.Load(_device, request)); // cache hits now
            var modelModule = Load(modelRequest);
            var backendModule = Load(backendRequest);
            var layerModules = layerRequests.Select(Load).ToArray();
            var layerDecodeModules = layerDecodeRequests.Select(Load).ToArray();

            SectionReader reader = (name, k) => PackSections.Of(pack, name, k);
            if (options.SyntheticFp16Weights)
            {
                var noise = Fp16Substitute.Noise(plan.Layers.SelectMany(l => l.Linears).Max(l => l.Record.Sections[0].Length));
                reader = (name, k) => manifest.FindLinear(name) is { Layer: not null } substitute
                    ? noise.AsSpan(0, (int)substitute.Sections[k].Length) : PackSections.Of(pack, name, k);
            }
            _weights = DeviceWeights.Upload(_device, plan.Weights, reader);
            _owned.Add(_weights);
            WeightBytesPerToken = plan.Weights.SectionBytes;

            DeviceBuffer Floats(long count) => Own(_device.Allocate(Math.Max(4, count * 4)));
            DeviceBuffer Bytes(long count) => Own(_device.Allocate(Math.Max(4, count)));
            DeviceBuffer Upload(float[] values) => Own(_device.Upload<float>(values));
            int hidden = c.HiddenSize, inter = c.IntermediateSize, qDim = c.QueryDim, kvDim = c.KeyValueDim;
            _x = Floats(hidden);
            var h = Floats(hidden);
            var q = Floats(qDim);
            var k = Floats(kvDim);
            var v = Floats(kvDim);
            var attended = Floats(qDim);
            var gate = Floats(inter);
            _logits = Floats(c.VocabSize);
            // The step's input in device memory, {token, position}: the host writes it, or the last step's greedy argmax.
            _step = Bytes(8);
            var embeddingTable = EmbeddingTable(pack, c);
            var scores = Floats((long)c.NumHeads * ContextLength);
            // Block-32 activations of h, the attention output and the SwiGLU output, for uniform linears.
            var hQuant = new Quantized(Bytes(hidden), Floats(Blocks(hidden, 32)), Bytes(4 * Blocks(hidden, 32)));
            var attendedQuant = new Quantized(Bytes(qDim), Floats(Blocks(qDim, 32)), Bytes(4 * Blocks(qDim, 32)));
            var interQuant = new Quantized(Bytes(inter), Floats(Blocks(inter, 32)), Bytes(4 * Blocks(inter, 32)));
            // Sage activations: one scratch set per linear that a fused prepare launch makes side by side (q, k, v);
            // the first also serves o_proj and down_proj, whose prepare runs right before their gemv.
            int maxCols = plan.Linears.Max(l => l.Record.Cols);
            _sage = Enumerable.Range(0, CudaSourceBuilder.FusedGroups.Max(g => g.Roles.Count)).Select(_ => new SageScratch(Floats(maxCols), Floats(maxCols),
                new Quantized(Bytes(maxCols), Floats(Blocks(maxCols, 256)), Bytes(4 * Blocks(maxCols, 256))), Floats(4))).ToArray();

            var (cos, sin) = RopeTables.Build(c.HeadDim, ContextLength, c.RopeTheta);
            var cosTable = Upload(cos);
            var sinTable = Upload(sin);
            long cacheHalves = (long)c.NumKeyValueHeads * ContextLength * c.HeadDim;

            var norm = modelModule.GetKernel("rms_norm_quantize");
            var ropeAttention = backendModule.GetKernel(CudaSourceBuilder.RopeAttentionKernel);
            _quantize = backendModule.GetKernel(CudaSourceBuilder.QuantizeKernel);
            int maxRows = plan.Linears.Max(l => l.Record.Rows);
            _checkInput = Floats(maxCols);
            _checkOutput = Floats(maxRows);
            _checkQuant = new Quantized(Bytes(maxCols), Floats(Blocks(maxCols, 32)), Bytes(4 * Blocks(maxCols, 32)));

            _spin = backendModule.GetKernel(CudaSourceBuilder.SpinKernel);
            void Norm(DeviceBuffer weight, bool quantize) => _launches.Add(new("norm", s => norm.Launch(1, Threads, 0, s, new NormArgs
            {
                X = _x.Pointer, Weight = weight.Pointer, H = h.Pointer, Eps = c.RmsNormEps, Block = 32, Tokens = 1,
                Codes = quantize ? hQuant.Codes.Pointer : 0, Scales = hQuant.Scales.Pointer, Sums = hQuant.Sums.Pointer,
            })));

            var embed = backendModule.GetKernel(CudaSourceBuilder.EmbedKernel);
            var embedArguments = Own(new KernelArguments().Add(embeddingTable).Add(_step).Add(_x));
            uint embedBlocks = Dim3.BlocksFor(hidden, Threads);
            _launches.Add(new("embedding", s => embed.Launch(embedBlocks, Threads, 0, s, embedArguments.Pointers)));

            for (int layer = 0; layer < c.NumLayers; layer++)
            {
                var module = layerModules[layer];
                var decodeModule = layerDecodeModules[layer];
                var l = plan.Layers[layer];
                LinearKernels Kernels(int role)
                {
                    var kernels = new LinearKernels(l.Linears[role], module.GetKernel(sources.KernelName(layer, CudaSourceBuilder.Roles[role])),
                        l.Linears[role].Record.Layout == "sage" ? decodeModule.GetKernel(sources.PrepareKernelName(layer, CudaSourceBuilder.Roles[role])) : null,
                        sources.GemvCtas(l.Linears[role].Record));
                    _linearKernels[l.Linears[role].Record.Name] = kernels;
                    return kernels;
                }

                // q, k, v (and gate, up) read the same normalized input: one prepare launch that also normalizes, one gemv launch.
                void AddGroup(CudaFusedGroup group, DeviceBuffer normWeight, DeviceBuffer[] outputs, string part)
                {
                    var members = group.Roles.Select(Kernels).ToArray();
                    if (members.Any(m => m.Plan.Record.Layout != "sage"))
                        Norm(normWeight, quantize: members.Any(m => m.Plan.Record.Layout == "uniform"));
                    var gemv = Own(new KernelArguments());
                    var prepared = new List<PrepareArgs>();
                    for (int i = 0; i < members.Length; i++)
                    {
                        // The sage members' activations go to scratch sets 0, 1, 2 in member order, as the prepare kernel makes them.
                        var (args, prepareArgs) = Arguments(members[i].Plan, h, hQuant, outputs[i], residual: false, _sage[prepared.Count]);
                        gemv.Add(args);
                        if (prepareArgs is { } p) prepared.Add(p with { X = _x.Pointer });
                    }
                    int slot = prepared.Count;
                    if (slot > 0)
                    {
                        var prepare = Own(new KernelArguments());
                        foreach (var p in prepared) prepare.Add(p);
                        prepare.Add(normWeight.Pointer).Add(c.RmsNormEps).Add(Prefetch(members.Select(m => m.Plan.Record)));
                        var prepareKernel = decodeModule.GetKernel(sources.FusedPrepareKernelName(layer, group));
                        _launches.Add(new($"{part} norm + prepare", s => prepareKernel.Launch((uint)slot, Threads, 0, s, prepare.Pointers)));
                    }
                    var gemvKernel = decodeModule.GetKernel(sources.FusedKernelName(layer, group));
                    var grid = group.SwiGlu
                        ? sources.SwiGluCtas(members[0].Plan.Record, members[1].Plan.Record)
                        : (uint)members.Sum(m => sources.GemvCtas(m.Plan.Record));
                    _launches.Add(new(group.SwiGlu ? $"{part} gemv + SwiGLU" : $"{part} gemv", s => gemvKernel.Launch(grid, Threads, 0, s, gemv.Pointers)));
                }

                var attentionNorm = Upload(pack.ReadFloats(LlamaTensors.Layer(layer, "input_layernorm")));
                var mlpNorm = Upload(pack.ReadFloats(LlamaTensors.Layer(layer, "post_attention_layernorm")));
                var keyCache = Bytes(2 * cacheHalves);
                var valueCache = Bytes(2 * cacheHalves);

                AddGroup(CudaSourceBuilder.FusedGroups[0], attentionNorm, [q, k, v], "q/k/v");
                var ropeArgs = new RopeArgs
                {
                    Q = q.Pointer, K = k.Pointer, V = v.Pointer, CosTable = cosTable.Pointer, SinTable = sinTable.Pointer,
                    KeyCache = keyCache.Pointer, ValueCache = valueCache.Pointer, MaxPositions = ContextLength,
                };
                var attentionArgs = new AttentionArgs
                {
                    Q = q.Pointer, KeyCache = keyCache.Pointer, ValueCache = valueCache.Pointer, Scores = scores.Pointer,
                    Output = attended.Pointer, MaxPositions = ContextLength,
                };
                var ropeAttentionLaunch = Own(new KernelArguments().Add(ropeArgs).Add(attentionArgs).Add(_step.Pointer + 4));
                _launches.Add(new("RoPE + attention", s => ropeAttention.Launch((uint)c.NumHeads, Threads, 0, s, ropeAttentionLaunch.Pointers)));
                if (l.Linears[3].Record.Layout == "uniform") _launches.Add(QuantizeLaunch(attended, qDim, attendedQuant));
                _launches.AddRange(LinearLaunches(Kernels(3), attended, attendedQuant, _x, residual: true, "o_proj"));
                // gate's buffer receives silu(gate)·up (up's output is not written).
                AddGroup(CudaSourceBuilder.FusedGroups[1], mlpNorm, [gate, gate], "gate/up");
                if (l.Linears[6].Record.Layout == "uniform") _launches.Add(QuantizeLaunch(gate, inter, interQuant));
                _launches.AddRange(LinearLaunches(Kernels(6), gate, interQuant, _x, residual: true, "down_proj"));
            }
            var finalNorm = Upload(pack.ReadFloats(LlamaTensors.FinalNorm));
            Norm(finalNorm, plan.LmHead.Layout == "uniform");
            var lmHead = new LinearKernels(plan.LmHeadPlan, backendModule.GetKernel(CudaSourceBuilder.LmHeadKernel), null, sources.GemvCtas(plan.LmHead));
            _linearKernels[plan.LmHead.Name] = lmHead;
            _launches.AddRange(LinearLaunches(lmHead, h, hQuant, _logits, residual: false, "LM head"));
            // The argmax of the logits, for ForwardGreedy: a few microseconds, always part of the step so one graph serves both.
            var greedy = backendModule.GetKernel(CudaSourceBuilder.GreedyKernel);
            var greedyArguments = Own(new KernelArguments().Add(_logits).Add(_step));
            _launches.Add(new("greedy token", s => greedy.Launch(1, Threads, 0, s, greedyArguments.Pointers)));

            _stream = Own(_device.CreateStream());
            _hostLogits = new float[c.VocabSize];
            Device = $"{_device.Name} ({_device.Architecture})";
            _ownsPack = ownsPack;
        }
        catch
        {
            DisposeOwned();
            _device.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Fills the kernel cache for every source at once: NVRTC compiles are CPU-bound and independent (a 32-layer
    /// model has 34 sources), so they run on all cores; loading then reads the cache on this thread. The first
    /// compile error is rethrown as itself.
    /// </summary>
    private static void CompileInParallel(CudaKernelCache cache, IReadOnlyList<CudaCompileRequest> requests)
    {
        try { Parallel.ForEach(requests, request => cache.GetOrCompile(request)); }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
    }

    private T Own<T>(T disposable) where T : IDisposable
    {
        _owned.Add(disposable);
        return disposable;
    }

    private static long Blocks(long count, int block) => (count + block - 1) / block;

    public ModelConfig Config => _pack.Manifest.Architecture;

    /// <summary>Positions the GPU KV cache holds.</summary>
    public int ContextLength { get; }

    /// <summary>How many positions (from 0) the cache currently holds.</summary>
    public int CachedPositions { get; private set; }

    /// <summary>Bytes of weights one decoded token reads: every decoder linear's sections and the LM head.</summary>
    public long WeightBytesPerToken { get; }

    /// <summary>The GPU the model runs on, in words.</summary>
    public string Device { get; }

    /// <summary>Kernel launches in one decode step.</summary>
    public int LaunchesPerToken => _launches.Count;

    /// <summary>The linears the decode step runs (decoder layers, then the LM head), by pack name.</summary>
    public IReadOnlyCollection<string> LinearNames => _linearKernels.Keys;

    public void Reset()
    {
        CachedPositions = 0;
        _deviceHolds = null;
    }

    public ReadOnlySpan<float> Forward(int token, int position)
    {
        CheckInput([token], position);
        Step(token, position);
        return CopyLogits();
    }

    /// <summary>One token, and the argmax of its logits taken on the GPU: 4 bytes come back instead of the logits.</summary>
    /// <exception cref="InvalidOperationException">The GPU's id is outside the vocabulary (only non-finite logits can do that).</exception>
    public int ForwardGreedy(int token, int position)
    {
        CheckInput([token], position);
        Step(token, position);
        Span<int> next = stackalloc int[2];   // {the argmax, position + 1}: the next step's input, already on the device
        _step.CopyTo(next);
        if ((uint)next[0] >= (uint)Config.VocabSize)
            throw new InvalidOperationException($"the GPU's greedy token {next[0]} is outside the vocabulary 0..{Config.VocabSize - 1}: non-finite logits?");
        _deviceHolds = (next[0], position + 1);
        return next[0];
    }

    public void Forward(ReadOnlySpan<int> tokens, int startPosition, Span<float> logits)
    {
        int vocab = Config.VocabSize;
        if (logits.Length != tokens.Length * vocab)
            throw new ArgumentException($"logits holds {logits.Length} floats, {tokens.Length} tokens × {vocab} are needed", nameof(logits));
        CheckInput(tokens, startPosition);
        for (int t = 0; t < tokens.Length; t++)
        {
            Step(tokens[t], startPosition + t);
            CopyLogits().CopyTo(logits.Slice(t * vocab, vocab));
        }
    }

    public ReadOnlySpan<float> Prefill(ReadOnlySpan<int> tokens, int startPosition = 0)
    {
        if (tokens.IsEmpty) throw new ArgumentException("at least one token is needed", nameof(tokens));
        CheckInput(tokens, startPosition);
        for (int t = 0; t < tokens.Length; t++) Step(tokens[t], startPosition + t);
        return CopyLogits();
    }

    private ReadOnlySpan<float> CopyLogits()
    {
        _logits.CopyTo<float>(_hostLogits);
        return _hostLogits;
    }

    /// <summary>
    /// Linear <paramref name="name"/> on the GPU for one input, with the same kernels and arguments as in the
    /// decode step but buffers of its own (cuda-check compares it with the CPU kernel of the same pack). The
    /// int8 activation of a uniform linear comes from the block-32 quantizer, as it does for o_proj.
    /// </summary>
    /// <exception cref="KeyNotFoundException">The step runs no linear of that name.</exception>
    public float[] RunLinear(string name, ReadOnlySpan<float> input)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var kernels = _linearKernels.TryGetValue(name, out var k) ? k : throw new KeyNotFoundException($"the decode step runs no linear '{name}'");
        var record = kernels.Plan.Record;
        if (input.Length != record.Cols) throw new ArgumentException($"{name} takes {record.Cols} inputs, not {input.Length}", nameof(input));
        _device.MakeCurrent();
        _checkInput.CopyFrom(input);
        if (record.Layout == "uniform")
        {
            using var arguments = QuantizeArguments(_checkInput, record.Cols, _checkQuant);
            _quantize.Launch(1, Threads, 0, _stream, arguments.Pointers);
            _stream.Synchronize();
        }
        foreach (var launch in LinearLaunches(kernels, _checkInput, _checkQuant, _checkOutput, residual: false, "check")) launch.Run(_stream);
        _stream.Synchronize();
        var output = new float[record.Rows];
        _checkOutput.CopyTo<float>(output);
        return output;
    }

    /// <summary>The launches of one linear: for sage its prepare step first, then the gemv (256 threads, its GemvCtas CTAs).</summary>
    private StepLaunch[] LinearLaunches(LinearKernels kernels, DeviceBuffer input, Quantized inputQuant, DeviceBuffer output, bool residual, string part)
    {
        var (args, prepare) = Arguments(kernels.Plan, input, inputQuant, output, residual, _sage[0]);
        var grid = new Dim3(kernels.GemvCtas);
        var gemv = kernels.Gemv;
        var gemvLaunch = new StepLaunch($"{part} gemv", s => gemv.Launch(grid, Threads, 0, s, args));
        if (prepare is not { } p) return [gemvLaunch];
        var prepareKernel = kernels.Prepare!;
        var prefetch = Prefetch([kernels.Plan.Record]);
        return [new($"{part} prepare", s => prepareKernel.Launch(1, Threads, 0, s, p, prefetch)), gemvLaunch];
    }

    /// <summary>What a prepare kernel brings into L2 for the gemv launched after it: each of these linears' bytes (at most three).</summary>
    private unsafe PrefetchArgs Prefetch(IEnumerable<LinearRecord> linears)
    {
        var regions = new PrefetchArgs();
        int i = 0;
        foreach (var linear in linears.Take(PrefetchArgs.MaxRegions))
        {
            (regions.Start[i], regions.Bytes[i]) = _weights.Span(linear.Name);
            i++;
        }
        return regions;
    }

    /// <summary>
    /// A linear's gemv arguments and, for sage, those of its prepare step, which reads <paramref name="input"/> and
    /// writes into <paramref name="scratch"/>, where the gemv reads its activation. Uniform reads the int8
    /// <paramref name="inputQuant"/>, f16 the float input.
    /// </summary>
    private (LinearArgs Gemv, PrepareArgs? Prepare) Arguments(CudaDecodePlan.PlannedLinear linear, DeviceBuffer input, Quantized inputQuant,
        DeviceBuffer output, bool residual, SageScratch scratch)
    {
        var args = new LinearArgs { Output = output.Pointer, Residual = residual ? output.Pointer : 0, Tokens = 1, Input = input.Pointer };
        _weights.Fill(linear.Record.Name, ref args);
        switch (linear.Record.Layout)
        {
            case "sage":
                var prepare = new PrepareArgs
                {
                    X = input.Pointer, Rotated = scratch.Rotated.Pointer, Work = scratch.Work.Pointer, Codes = scratch.Activation.Codes.Pointer,
                    Scales = scratch.Activation.Scales.Pointer, Sums = scratch.Activation.Sums.Pointer, Totals = scratch.Totals.Pointer, Seed = linear.RotationSeed,
                };
                _weights.Fill(linear.Record.Name, ref prepare);
                args.Codes = scratch.Activation.Codes.Pointer;
                args.Scales = scratch.Activation.Scales.Pointer;
                args.Sums = scratch.Activation.Sums.Pointer;
                args.Input = scratch.Rotated.Pointer;
                args.Totals = scratch.Totals.Pointer;
                return (args, prepare);
            case "uniform":
                args.Codes = inputQuant.Codes.Pointer;
                args.Scales = inputQuant.Scales.Pointer;
                args.Sums = inputQuant.Sums.Pointer;
                return (args, null);
            default:
                return (args, null);
        }
    }

    /// <summary>The block-32 int8 activation of <paramref name="count"/> floats (one CTA).</summary>
    private StepLaunch QuantizeLaunch(DeviceBuffer input, int count, Quantized into)
    {
        var arguments = Own(QuantizeArguments(input, count, into));
        return new("int8 blocks", s => _quantize.Launch(1, Threads, 0, s, arguments.Pointers));
    }

    private static KernelArguments QuantizeArguments(DeviceBuffer input, int count, Quantized into) =>
        new KernelArguments().Add(input).Add(count).Add(into.Codes).Add(into.Scales).Add(into.Sums);

    /// <summary>
    /// The token embedding as an FP32 table on the device [vocab × hidden], decoded on the host from whatever the
    /// pack stores (FP16, or 8/4-bit uniform), so that a step starts from a token id in device memory with no
    /// row to copy in: 4·vocab·hidden bytes (524 MB for LLaMA-2-7B), the float values the CPU backend uses.
    /// </summary>
    private DeviceBuffer EmbeddingTable(PackedModel pack, ModelConfig c)
    {
        var table = Own(_device.Allocate(4L * c.VocabSize * c.HiddenSize));
        using var embedding = CpuLinears.Open(pack, LlamaTensors.Embedding, 1);
        const int RowsAtOnce = 256;
        var rows = new float[RowsAtOnce * c.HiddenSize];
        for (int first = 0; first < c.VocabSize; first += RowsAtOnce)
        {
            int count = Math.Min(RowsAtOnce, c.VocabSize - first);
            for (int r = 0; r < count; r++) embedding.DecodeRow(first + r, rows.AsSpan(r * c.HiddenSize, c.HiddenSize));
            table.CopyFrom<float>(rows.AsSpan(0, count * c.HiddenSize), 4L * first * c.HiddenSize);
        }
        return table;
    }

    /// <summary>Runs the decode step's launches (or its graph) for one token.</summary>
    private void Step(int token, int position)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _device.MakeCurrent();
        // After a greedy step the device already holds {its token, the next position}: nothing to copy then.
        if (_deviceHolds != (token, position)) StepInput(token, position);
        if (_graph is not null) _graph.Launch(_stream);
        else
        {
            foreach (var launch in _launches) launch.Run(_stream);
            // The first step ran the kernels eagerly (any launch error surfaces here, with its name); later ones replay.
            if (_useGraph)
            {
                _stream.Synchronize();
                _graph = CudaGraph.Capture(_stream, s => { foreach (var launch in _launches) launch.Run(s); });
            }
        }
        _stream.Synchronize();
        CachedPositions = position + 1;
    }

    /// <summary>The step's input, {token, position}, copied in.</summary>
    private void StepInput(int token, int position)
    {
        _step.CopyFrom<int>([token, position]);
        _deviceHolds = null;
    }

    /// <summary>
    /// Times every launch of the decode step at <paramref name="position"/> (the cache must hold the positions
    /// before it), <paramref name="repeat"/> times. The launches run one by one with an event pair around each,
    /// queued behind a kernel that keeps the GPU busy until the host has queued them all, so no launch waits
    /// for the host: each figure is a kernel and the GPU's gap to the next, as in the graph. Then the graph
    /// replays the same step between two events. Medians over the repeats, in microseconds.
    /// </summary>
    public CudaStepProfile ProfileStep(int position, int repeat = 5)
    {
        CheckInput([Config.BosTokenId], position);
        ArgumentOutOfRangeException.ThrowIfLessThan(repeat, 1);
        _device.MakeCurrent();
        var events = new CudaEvent[2 * _launches.Count + 2];
        try
        {
            for (int i = 0; i < events.Length; i++) events[i] = _device.CreateEvent();
            var perLaunch = new double[_launches.Count][];
            for (int i = 0; i < perLaunch.Length; i++) perLaunch[i] = new double[repeat];
            var graph = new List<double>();
            long spinNanoseconds = 20_000_000;
            var queueing = System.Diagnostics.Stopwatch.StartNew();
            for (int r = 0; r < repeat; r++)
            {
                StepInput(Config.BosTokenId, position);
                using (var spin = new KernelArguments().Add(spinNanoseconds))
                    _spin.Launch(1, 32, 0, _stream, spin.Pointers);
                queueing.Restart();
                for (int i = 0; i < _launches.Count; i++)
                {
                    events[2 * i].Record(_stream);
                    _launches[i].Run(_stream);
                    events[2 * i + 1].Record(_stream);
                }
                double queuedNanoseconds = queueing.Elapsed.TotalNanoseconds;
                _stream.Synchronize();
                for (int i = 0; i < _launches.Count; i++) perLaunch[i][r] = 1000.0 * CudaEvent.ElapsedMilliseconds(events[2 * i], events[2 * i + 1]);
                // The spin must outlast the queueing; if it did not, the next repeat spins longer.
                spinNanoseconds = Math.Max(spinNanoseconds, (long)(4 * queuedNanoseconds));
                if (_graph is not null)
                {
                    StepInput(Config.BosTokenId, position);
                    events[^2].Record(_stream);
                    _graph.Launch(_stream);
                    events[^1].Record(_stream);
                    graph.Add(1000.0 * CudaEvent.ElapsedMilliseconds(events[^2], events[^1]));
                }
            }
            var parts = _launches.Select((launch, i) => (launch.Part, Microseconds: Medians.Of(perLaunch[i])))
                .GroupBy(x => x.Part)
                .Select(g => new CudaStepPart(g.Key, g.Count(), g.Sum(x => x.Microseconds)))
                .ToArray();
            CachedPositions = Math.Max(CachedPositions, position + 1);
            return new CudaStepProfile(position, parts, parts.Sum(p => p.Microseconds), graph.Count > 0 ? Medians.Of(graph) : double.NaN);
        }
        finally
        {
            foreach (var e in events) e?.Dispose();
        }
    }

    private void CheckInput(ReadOnlySpan<int> tokens, int start)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (start < 0 || start > CachedPositions)
            throw new ArgumentOutOfRangeException(nameof(start), start, $"the cache holds positions 0..{CachedPositions - 1}; a run must start at or before {CachedPositions}");
        if (start + (long)tokens.Length > ContextLength)
            throw new ArgumentException($"positions {start}..{start + tokens.Length - 1} go past the context of {ContextLength} positions", nameof(tokens));
        foreach (int token in tokens)
            if ((uint)token >= (uint)Config.VocabSize)
                throw new ArgumentOutOfRangeException(nameof(tokens), token, $"token id outside the vocabulary 0..{Config.VocabSize - 1}");
    }

    private void DisposeOwned()
    {
        _graph?.Dispose();
        _graph = null;
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
        _owned.Clear();
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _device.MakeCurrent();
        DisposeOwned();
        _device.Dispose();
        if (_ownsPack) _pack.Dispose();
    }

    /// <summary>An int8 activation: codes, block scales, block sums.</summary>
    private sealed record Quantized(DeviceBuffer Codes, DeviceBuffer Scales, DeviceBuffer Sums);

    /// <summary>A linear's plan and kernels.</summary>
    private sealed record LinearKernels(CudaDecodePlan.PlannedLinear Plan, CudaKernel Gemv, CudaKernel? Prepare, uint GemvCtas);

    /// <summary>One kernel launch of the decode step and the part of the step it belongs to (the profile's rows).</summary>
    private sealed record StepLaunch(string Part, Action<CudaStream> Run);

    /// <summary>The sage prepare step's outputs, shared by every sage linear.</summary>
    private sealed record SageScratch(DeviceBuffer Rotated, DeviceBuffer Work, Quantized Activation, DeviceBuffer Totals);
}

/// <summary>One part of the decode step in <see cref="CudaModel.ProfileStep"/>: its launches in a token and their time.</summary>
public sealed record CudaStepPart(string Name, int Launches, double Microseconds);

/// <summary>
/// <see cref="CudaModel.ProfileStep"/>'s result: the parts of the step in the order they first run, the sum of
/// every launch timed on its own, and the whole step replayed as a graph (NaN without one), in microseconds.
/// </summary>
public sealed record CudaStepProfile(int Position, IReadOnlyList<CudaStepPart> Parts, double LaunchesMicroseconds, double GraphMicroseconds);
