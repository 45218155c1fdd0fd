namespace SagePtq.Quantizer.Methods.Sage;

/// <summary>Where salient weights sit: whole input columns (cheap index list) or single weights (paper-faithful).</summary>
public enum SalientGranularity
{
    /// <summary>Whole columns: one uint16 index per salient column per matrix.</summary>
    Column,
    /// <summary>Single weights anywhere (the paper's unstructured layout): a uint16 column index per salient weight plus a count per row.</summary>
    Weight,
}

/// <summary>What shares one binarization scalar: whole input columns (a byte per column) or single weights (log2 K bits each).</summary>
public enum GroupGranularity
{
    /// <summary>Each unsalient column belongs to one group: one byte per column per matrix.</summary>
    Column,
    /// <summary>Each unsalient weight has its own group id (the paper's layout): ⌈log2 K⌉ bits per weight.</summary>
    Weight,
}

/// <summary>How the scalar α of a binarized weight is stored (see <c>SageLayout</c>).</summary>
public enum GroupScaleMode
{
    /// <summary>One FP16 scalar per group per matrix (the paper's "one scalar per group").</summary>
    PerGroup = 0,
    /// <summary>α = a_row · c_group: one FP16 factor per output row and one per group (ARB-RC style, rank one).</summary>
    RowTimesGroup = 1,
    /// <summary>One FP16 scalar per (output row, group).</summary>
    PerRowGroup = 2,
}

/// <summary>How the unsalient units are clustered into groups (DESIGN.md §5.2).</summary>
public enum GroupingAlgorithm
{
    /// <summary>The paper's graph-guided grouping: kNN graph, normalised-Laplacian embedding, k-means there.</summary>
    Spectral,
    /// <summary>Ablation: plain k-means on the same features, without the kNN graph or the spectral embedding.</summary>
    KMeans,
}

/// <summary>
/// Options of SAGE-PTQ for one linear (DESIGN.md §5). Defaults are the measured best at the default
/// budget; <see cref="Validate"/> rejects nonsense with an <see cref="ArgumentException"/>.
/// </summary>
public sealed record SageOptions
{
    /// <summary>Target storage bits per weight (DESIGN.md §3): every stored byte counts. Must exceed 1.</summary>
    public double Bits { get; init; } = 1.10;

    /// <summary>Bit width of salient weights (2..8), symmetric with one FP16 scale per output row.</summary>
    public int SalientBits { get; init; } = 4;

    /// <summary>
    /// Upper bound of the saliency ratio searched by Brent's method; the bit budget caps it first at low budgets
    /// (about 2.5% of columns at 1.10 bits), so this bound matters only for generous budgets. 0.25 lets a 1.75-bit
    /// budget be spent (docs/sage-choices.md: 10% left 1.75 at 1.46 bits and perplexity ratio 1.289; 25% reaches
    /// 1.746 bits and 1.243).
    /// </summary>
    public double MaxSalientRatio { get; init; } = 0.25;

    /// <summary>Granularity of salient weights.</summary>
    public SalientGranularity Salient { get; init; } = SalientGranularity.Column;

    /// <summary>Granularity of groups.</summary>
    public GroupGranularity Groups { get; init; } = GroupGranularity.Column;

    /// <summary>How binarization scalars are stored.</summary>
    public GroupScaleMode ScaleMode { get; init; } = GroupScaleMode.RowTimesGroup;

    /// <summary>
    /// Fixed share of salient units (columns or weights) for every matrix, instead of the per-matrix Brent search
    /// of adaptive thresholding; null (the default) searches. The count is ⌊ratio·units⌉, lowered to what the bit
    /// budget allows. An ablation switch (docs/ablation.md).
    /// </summary>
    public double? SalientRatio { get; init; }

    /// <summary>Clustering used for the groups; spectral (graph-guided) by default.</summary>
    public GroupingAlgorithm Grouping { get; init; } = GroupingAlgorithm.Spectral;

    /// <summary>Largest number of groups K considered by the silhouette choice.</summary>
    public int MaxGroups { get; init; } = 4;

    /// <summary>Best silhouette below which one group is kept (silhouette is undefined for K = 1).</summary>
    public double MinSilhouette { get; init; } = 0.25;

    /// <summary>Most weights (or columns) fed to the kNN graph.</summary>
    public int GraphSamples { get; init; } = 1500;

    /// <summary>Neighbours per node of the kNN graph.</summary>
    public int Neighbours { get; init; } = 10;

    /// <summary>Store a per-row mean μ ("binary with offset").</summary>
    public bool Offset { get; init; }

    /// <summary>
    /// Alternating refinement iterations (refit scalars, re-pick signs and groups) of the final fit; 0 fits the
    /// scalars once on the clustering's groups, with no alternation.
    /// </summary>
    public int Iterations { get; init; } = 8;

    /// <summary>Alternating iterations inside each Brent evaluation (cheaper than the final fit); 0 as for <see cref="Iterations"/>.</summary>
    public int SearchIterations { get; init; } = 2;

    /// <summary>
    /// Data-free only: rows of the seeded stratified sample the Brent search evaluates its objective on (the chosen
    /// salient count is then fitted on all rows); 0 evaluates on every row. Ignored with a Hessian, whose search
    /// always sees every row (docs/sage-choices.md, "Sampled search").
    /// </summary>
    public int SearchRows { get; init; } = 512;

    /// <summary>Most objective evaluations of the Brent search.</summary>
    public int MaxSearchEvaluations { get; init; } = 12;

    /// <summary>Rank salient weights by w²·diag(H) instead of weight statistics when a Hessian is given.</summary>
    public bool HessianSaliency { get; init; } = true;

    /// <summary>Relative damping of the Hessian diagonal (GPTQ's percdamp).</summary>
    public double Damping { get; init; } = 0.01;

    /// <summary>
    /// Calibrated mode: GPTQ-style compensation (each column's error pushed onto the later ones through H⁻¹).
    /// False quantizes every weight on its own value, keeping the Hessian-weighted saliency, search, fit and refit
    /// (an ablation switch); ignored without a Hessian.
    /// </summary>
    public bool Compensate { get; init; } = true;

    /// <summary>
    /// Calibrated mode: rounds of output-aware refit of the stored scalars (row factors, group factors, salient
    /// scales) to tr((W − Ŵ)H(W − Ŵ)ᵀ) with signs and codes fixed, each round after the first preceded by a
    /// fresh compensation sweep under the new scalars. 0 turns it off; ignored without a Hessian.
    /// </summary>
    public int Refit { get; init; } = 2;

    /// <summary>
    /// Rotate the input space with a seeded randomized blockwise Walsh–Hadamard transform first; null (the
    /// default) rotates exactly when a Hessian is given, where it was measured to win (it loses data-free).
    /// </summary>
    public bool? Rotate { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad option.</summary>
    public void Validate()
    {
        if (!(Bits > 1.0) || double.IsInfinity(Bits))
            throw new ArgumentException($"sage: bits must be above 1 storage bit per weight (signs alone take 1), got {Bits}", nameof(Bits));
        if (SalientBits is < 2 or > 8)
            throw new ArgumentException($"sage: salient bits must be 2..8, got {SalientBits}", nameof(SalientBits));
        if (!(MaxSalientRatio >= 0 && MaxSalientRatio <= 0.5))
            throw new ArgumentException($"sage: max salient ratio must be in [0, 0.5], got {MaxSalientRatio}", nameof(MaxSalientRatio));
        if (MaxGroups is < 1 or > 16)
            throw new ArgumentException($"sage: max groups must be 1..16, got {MaxGroups}", nameof(MaxGroups));
        if (GraphSamples < 16) throw new ArgumentException($"sage: graph samples must be at least 16, got {GraphSamples}", nameof(GraphSamples));
        if (Neighbours < 1) throw new ArgumentException($"sage: neighbours must be at least 1, got {Neighbours}", nameof(Neighbours));
        if (Iterations < 0 || SearchIterations < 0)
            throw new ArgumentException($"sage: iterations must be 0 or more, got {Iterations} and {SearchIterations} in the search", nameof(Iterations));
        if (SalientRatio is { } ratio && !(ratio >= 0 && ratio <= 0.5))
            throw new ArgumentException($"sage: salient ratio must be in [0, 0.5], got {ratio}", nameof(SalientRatio));
        if (SearchRows < 0) throw new ArgumentException($"sage: search rows must be 0 (all) or positive, got {SearchRows}", nameof(SearchRows));
        if (MaxSearchEvaluations < 3)
            throw new ArgumentException($"sage: max search evaluations must be at least 3, got {MaxSearchEvaluations}", nameof(MaxSearchEvaluations));
        if (Refit is < 0 or > 10) throw new ArgumentException($"sage: refit rounds must be 0..10, got {Refit}", nameof(Refit));
        if (!(Damping > 0)) throw new ArgumentException($"sage: damping must be positive, got {Damping}", nameof(Damping));
    }
}
