using System.Runtime.InteropServices;

namespace SagePtq.Runtime.Cuda.Model;

// C# mirrors of the argument structs of templates/cuda/sageptq.cuh, passed by value to the kernels
// (CudaKernel.Launch<TArgs>). Field for field in the header's order; device pointers are ulong. The header
// fixes each struct's size with a static_assert, and the tests compute every offset from the header text.

/// <summary><c>sageptq::LinearArgs</c> (224 bytes): one linear y = W·x for <see cref="Tokens"/> inputs.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct LinearArgs
{
    /// <summary>Most sections a linear has (<c>SAGEPTQ_MAX_SECTIONS</c>).</summary>
    public const int MaxSections = 10;

    /// <summary>The linear's sections in pack order (16-byte aligned device pointers); 0 past the last.</summary>
    public fixed ulong Sections[MaxSections];
    /// <summary>Each section's length in bytes.</summary>
    public fixed long SectionBytes[MaxSections];
    /// <summary>int8 activation codes.</summary>
    public ulong Codes;
    /// <summary>d per activation block.</summary>
    public ulong Scales;
    /// <summary>Σq per activation block.</summary>
    public ulong Sums;
    /// <summary>The float activation (sage: rotated).</summary>
    public ulong Input;
    /// <summary>sage: 4 floats per token from the prepare step.</summary>
    public ulong Totals;
    /// <summary>tokens × rows outputs.</summary>
    public ulong Output;
    /// <summary>Optional residual added to the output (may alias it); 0 for none.</summary>
    public ulong Residual;
    /// <summary>Inputs in the batch.</summary>
    public int Tokens;
    /// <summary>Padding.</summary>
    public int Reserved0;
}

/// <summary><c>sageptq::NormArgs</c> (64 bytes): RMSNorm of rows, then (codes ≠ 0) their int8 activation.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct NormArgs
{
    /// <summary>Input rows.</summary>
    public ulong X;
    /// <summary>The norm's weight.</summary>
    public ulong Weight;
    /// <summary>Normalized rows.</summary>
    public ulong H;
    /// <summary>int8 codes of h, or 0.</summary>
    public ulong Codes;
    /// <summary>Block scales.</summary>
    public ulong Scales;
    /// <summary>Block sums.</summary>
    public ulong Sums;
    /// <summary>ε of the norm.</summary>
    public float Eps;
    /// <summary>Activation block (32 or 256).</summary>
    public int Block;
    /// <summary>Rows.</summary>
    public int Tokens;
    /// <summary>Padding.</summary>
    public int Reserved0;
}

/// <summary><c>sageptq::RopeArgs</c> (64 bytes): RoPE of one token's q and k, k and v into the FP16 cache.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct RopeArgs
{
    /// <summary>Queries, rotated in place.</summary>
    public ulong Q;
    /// <summary>Keys, rotated in place.</summary>
    public ulong K;
    /// <summary>Values.</summary>
    public ulong V;
    /// <summary>cos table [positions × head_dim/2].</summary>
    public ulong CosTable;
    /// <summary>sin table.</summary>
    public ulong SinTable;
    /// <summary>This layer's key cache (FP16 bits).</summary>
    public ulong KeyCache;
    /// <summary>This layer's value cache.</summary>
    public ulong ValueCache;
    /// <summary>The token's position.</summary>
    public int Position;
    /// <summary>Positions the cache holds.</summary>
    public int MaxPositions;
}

/// <summary><c>sageptq::AttentionArgs</c> (48 bytes): causal attention of one token over the cache.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct AttentionArgs
{
    /// <summary>Rotated queries.</summary>
    public ulong Q;
    /// <summary>This layer's key cache.</summary>
    public ulong KeyCache;
    /// <summary>This layer's value cache.</summary>
    public ulong ValueCache;
    /// <summary>Scratch, heads × max_positions floats.</summary>
    public ulong Scores;
    /// <summary>Output, heads × head_dim floats.</summary>
    public ulong Output;
    /// <summary>The token's position.</summary>
    public int Position;
    /// <summary>Positions the cache holds.</summary>
    public int MaxPositions;
}

/// <summary><c>sageptq::SwigluArgs</c> (56 bytes): out = silu(gate)·up, then (codes ≠ 0) its int8 activation.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct SwigluArgs
{
    /// <summary>Gate rows.</summary>
    public ulong Gate;
    /// <summary>Up rows.</summary>
    public ulong Up;
    /// <summary>Output (may alias gate).</summary>
    public ulong Out;
    /// <summary>int8 codes, or 0.</summary>
    public ulong Codes;
    /// <summary>Block scales.</summary>
    public ulong Scales;
    /// <summary>Block sums.</summary>
    public ulong Sums;
    /// <summary>Activation block (32 or 256).</summary>
    public int Block;
    /// <summary>Rows.</summary>
    public int Tokens;
}

/// <summary><c>sageptq::ResidualArgs</c> (24 bytes): x += delta.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct ResidualArgs
{
    /// <summary>Rows added to in place.</summary>
    public ulong X;
    /// <summary>What is added.</summary>
    public ulong Delta;
    /// <summary>Rows.</summary>
    public int Tokens;
    /// <summary>Padding.</summary>
    public int Reserved0;
}

/// <summary><c>sageptq::PrefetchArgs</c> (48 bytes): up to three regions of device memory for a prepare kernel to bring into L2.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct PrefetchArgs
{
    /// <summary>Most regions.</summary>
    public const int MaxRegions = 3;

    /// <summary>Each region's device address (16-byte aligned).</summary>
    public fixed ulong Start[MaxRegions];
    /// <summary>Each region's length in bytes; 0 for none.</summary>
    public fixed long Bytes[MaxRegions];
}

/// <summary><c>sageptq::sage::PrepareArgs</c> (144 bytes): a sage linear's activation from x.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct PrepareArgs
{
    /// <summary>The linear's sections, as in <see cref="LinearArgs"/>.</summary>
    public fixed ulong Sections[LinearArgs.MaxSections];
    /// <summary>Input rows (tokens × cols).</summary>
    public ulong X;
    /// <summary>Rotated x' (the gemv's input).</summary>
    public ulong Rotated;
    /// <summary>Scratch, tokens × cols floats.</summary>
    public ulong Work;
    /// <summary>int8 codes.</summary>
    public ulong Codes;
    /// <summary>Block scales.</summary>
    public ulong Scales;
    /// <summary>Block sums.</summary>
    public ulong Sums;
    /// <summary>4 floats per token.</summary>
    public ulong Totals;
    /// <summary>The rotation seed (rotate_seed_hi:rotate_seed_lo), ignored by unrotated linears.</summary>
    public ulong Seed;
}
