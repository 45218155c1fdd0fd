using System.Text;
using SagePtq.Runtime.Checkpoints;
using SagePtq.Runtime.Generation;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Reference;
using SagePtq.Runtime.Tokenization;

namespace SagePtq.Runtime;

/// <summary>
/// A language model ready to generate text: a forward pass with its key/value cache, and the
/// tokenizer that goes with it. <c>Generate</c> returns a continuation, <c>GenerateAsync</c> streams
/// it, and the <c>Stream</c> methods add how it ended. A generated model class wraps one of these.
/// </summary>
/// <remarks>
/// <para><b>Threads.</b> Every method may be called from any thread, but one instance runs one
/// generation at a time, because the key/value cache belongs to the instance: a call made while
/// another generation runs waits (asynchronously in the async methods) until that one has ended,
/// then runs, so concurrent callers all get complete, correct results, one after another. For
/// generations that really run in parallel, open one instance per concurrent generation.</para>
/// <para><b>Streams hold the model.</b> A streaming enumeration holds the instance from its first
/// <c>MoveNext</c> until it ends or is disposed; <c>foreach</c> and <c>await foreach</c> dispose it,
/// also when the loop is left early. So a generation started on the same instance from inside
/// such a loop would wait for the loop to end, that is forever: use a second instance.</para>
/// <para><b>Cancellation.</b> A cancelled token stops the generation before its next token with
/// <see cref="OperationCanceledException"/> (a prompt's single batched prefill is not interrupted);
/// the instance is then free for the next call.</para>
/// <para><b>Disposal.</b> <see cref="Dispose"/> returns at once. A generation that is running (or
/// waiting) stops before its next token with <see cref="ObjectDisposedException"/>, and the owned
/// resources (the pack) are released only when it has let go of the model, so no forward pass
/// ever reads released memory. Every call after <see cref="Dispose"/> throws
/// <see cref="ObjectDisposedException"/>.</para>
/// </remarks>
public sealed partial class LanguageModel : IDisposable
{
    private readonly ICausalLanguageModel _model;
    private readonly IDisposable? _owner;
    // One generation at a time. SemaphoreSlim rather than lock: it can be awaited, and it is not
    // tied to a thread, which matters because an async stream moves between pool threads.
    private readonly SemaphoreSlim _gate = new(1, 1);
    // Cancelled by Dispose, so running and waiting generations stop; never disposed itself, because
    // a racing caller may still be linking to it.
    private readonly CancellationTokenSource _disposing = new();
    private int _disposed;
    private int _released;

    /// <summary>
    /// Wraps a forward pass and its tokenizer. <paramref name="owner"/>, if given, is disposed with
    /// this instance (for example the memory-mapped pack the forward pass reads).
    /// </summary>
    /// <param name="model">The forward pass; this instance must be its only user while it lives.</param>
    /// <param name="tokenizer">The model's tokenizer.</param>
    /// <param name="owner">What to dispose with this instance, or null.</param>
    /// <param name="modelId">A name for the model (a chat client reports it), or null.</param>
    /// <exception cref="ArgumentException">The tokenizer has more tokens than the model's vocabulary.</exception>
    public LanguageModel(ICausalLanguageModel model, Tokenizer tokenizer, IDisposable? owner = null, string? modelId = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (tokenizer.VocabSize > model.Config.VocabSize)
            throw new ArgumentException(
                $"the tokenizer has {tokenizer.VocabSize} tokens but the model's vocabulary only {model.Config.VocabSize}: they do not belong together", nameof(tokenizer));
        _model = model;
        Tokenizer = tokenizer;
        _owner = owner;
        ModelId = modelId;
    }

    /// <summary>
    /// Opens the pack written by <c>sageptq quantize</c> in <paramref name="packDirectory"/>
    /// (<c>model.sagepack</c> + <c>model.manifest.json</c>) with the backend chosen in
    /// <paramref name="options"/> (null = <see cref="LanguageModelOptions"/> defaults).
    /// </summary>
    /// <exception cref="ModelFileException">The pack or its tokenizer is missing or unusable.</exception>
    /// <exception cref="Cuda.Model.CudaUnavailableException"><see cref="ModelBackend.Cuda"/> was asked for and cannot run here (the message says why).</exception>
    public static LanguageModel Open(string packDirectory, LanguageModelOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(packDirectory);
        options ??= new LanguageModelOptions();
        var pack = PackedModel.Open(packDirectory, new PackReadOptions { VerifyPayloadChecksum = options.VerifyPayloadChecksum });
        string modelId = options.ModelId ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(packDirectory)));
        return Open(pack, Path.Combine(packDirectory, PackFormat.ManifestFileName), modelId, options, compiled: null);
    }

    /// <summary>
    /// Runs an opened pack on the backend <paramref name="options"/> choose; the returned model owns the
    /// pack (it is disposed here on failure). <paramref name="compiled"/> are a generated class's layers,
    /// which the CPU backend runs; the other backends have their own forward pass.
    /// </summary>
    internal static LanguageModel Open(PackedModel pack, string manifestName, string modelId, LanguageModelOptions options, Cpu.CpuModel.CompiledLayers? compiled)
    {
        try
        {
            var tokenizer = Tokenizer.Parse(Encoding.UTF8.GetString(pack.ReadTokenizerJson()), manifestName);
            var (model, owner) = CreateBackend(pack, options, compiled);
            if (owner is null) pack.Dispose(); // the backend copied what it needs
            return new LanguageModel(model, tokenizer, owner, modelId);
        }
        catch
        {
            pack.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The forward pass for <paramref name="backend"/>, and what must stay open while it runs
    /// (null when it has copied what it needs out of the pack). Further backends join here.
    /// </summary>
    private static (ICausalLanguageModel Model, IDisposable? Owner) CreateBackend(PackedModel pack, LanguageModelOptions options, Cpu.CpuModel.CompiledLayers? compiled)
    {
        switch (options.Backend)
        {
            case ModelBackend.Reference:
                return (new ReferenceModel(pack.ToLlamaWeights()), null);
            case ModelBackend.Cpu:
                // The model reads the mapped pack until it is disposed; disposing the model then closes the pack.
                var cpu = new Cpu.CpuModel(pack, new Cpu.CpuModelOptions { Threads = options.Threads }, ownsPack: false, compiled);
                return (cpu, new OwnedPair(cpu, pack));
            case ModelBackend.Cuda:
                // An explicit request fails with the reason rather than quietly running elsewhere.
                var cuda = new Cuda.Model.CudaModel(pack, new Cuda.Model.CudaModelOptions { ContextLength = options.ContextLength });
                return (cuda, new OwnedPair(cuda, pack));
            default:
                throw new ArgumentOutOfRangeException(nameof(options), options.Backend, "not a ModelBackend");
        }
    }

    /// <summary>Disposes the forward pass, then the pack it reads.</summary>
    private sealed class OwnedPair(IDisposable model, IDisposable pack) : IDisposable
    {
        public void Dispose()
        {
            model.Dispose();
            pack.Dispose();
        }
    }

    /// <summary>The model's tokenizer (thread-safe).</summary>
    public Tokenizer Tokenizer { get; }

    /// <summary>The model's architecture.</summary>
    public ModelConfig Config => _model.Config;

    /// <summary>The most tokens a prompt and its continuation may have together.</summary>
    public int ContextLength => _model.Config.MaxPositionEmbeddings;

    /// <summary>The model's name (the pack folder's name when opened with <see cref="Open"/>), or null.</summary>
    public string? ModelId { get; }

    /// <summary>The tokens <paramref name="text"/> takes as a prompt: BOS included, as it counts against <see cref="ContextLength"/>.</summary>
    public int CountTokens(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        return Tokenizer.Encode(text, addBos: true).Length;
    }

    /// <summary>
    /// Stops any running generation (it ends with <see cref="ObjectDisposedException"/>) and
    /// releases the owned resources once no generation uses the model any more. Returns at once.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        _disposing.Cancel();
        ReleaseIfIdle();
    }

    private bool IsDisposed => Volatile.Read(ref _disposed) == 1;

    /// <summary>Takes the model for one generation, waiting for a running one to end.</summary>
    private void Enter(CancellationToken linked, CancellationToken callers)
    {
        try { _gate.Wait(linked); }
        catch (OperationCanceledException) when (DisposedNotCancelled(callers)) { throw Disposed(); }
        ThrowIfDisposedAfterEntering();
    }

    /// <inheritdoc cref="Enter"/>
    private async Task EnterAsync(CancellationToken linked, CancellationToken callers, CancellationToken alsoCallers)
    {
        try { await _gate.WaitAsync(linked).ConfigureAwait(false); }
        catch (OperationCanceledException) when (DisposedNotCancelled(callers, alsoCallers)) { throw Disposed(); }
        ThrowIfDisposedAfterEntering();
    }

    private void ThrowIfDisposedAfterEntering()
    {
        if (!IsDisposed) return;
        Exit();
        throw Disposed();
    }

    /// <summary>Lets go of the model; the last user out after <see cref="Dispose"/> releases the resources.</summary>
    private void Exit()
    {
        _gate.Release();
        if (IsDisposed) ReleaseIfIdle();
    }

    /// <summary>
    /// Releases the owned resources if no generation holds the model. The gate is then kept for
    /// good, so nothing can run on released memory. Called by Dispose and by every generation that
    /// ends after it, so whichever comes last does the release.
    /// </summary>
    private void ReleaseIfIdle()
    {
        if (_gate.Wait(0) && Interlocked.Exchange(ref _released, 1) == 0) _owner?.Dispose();
    }

    /// <summary>True when a cancellation came from <see cref="Dispose"/> rather than from the caller's tokens.</summary>
    private bool DisposedNotCancelled(CancellationToken callers, CancellationToken alsoCallers = default) =>
        IsDisposed && !callers.IsCancellationRequested && !alsoCallers.IsCancellationRequested;

    private static ObjectDisposedException Disposed() =>
        new(nameof(LanguageModel), "the model was disposed; a generation that was running or waiting was stopped");
}
