using System.Text;
using SagePtq.Tests;

namespace SagePtq.Cuda.Tests;

/// <summary>
/// The device side of sageptq.cuh: a source shaped like the generator's output, instantiating every template
/// with several constant sets, must pass clang-14's CUDA front end for sm_80 (NVRTC compiles it for real on
/// the GPU machine).
/// </summary>
public sealed class SyntaxTests
{
    /// <summary>sage constants (rows, cols, flags, groups, salient_bits, salient_count, scale_mode): every flag and mode.</summary>
    private static readonly int[][] SageSets =
    [
        [256, 256, 0, 1, 4, 0, 0], [256, 256, 0, 3, 4, 5, 1], [4096, 11008, 0, 3, 4, 120, 1], [17, 300, 15, 4, 8, 40, 2],
        [64, 704, 1, 2, 3, 9, 0], [64, 100, 2, 5, 2, 0, 1], [1, 32, 12, 255, 8, 32, 2],
        // Rotated linears carry rotate_seed_hi and rotate_seed_lo between groups and salient_bits (ordinal key order).
        [256, 256, 8, 3, -1234567, 987654321, 4, 5, 1], [17, 300, 15, 4, 0, -1, 8, 40, 2],
    ];

    private static readonly int[][] UniformSets = [[64, 256, 2, 128], [17, 300, 3, 100], [704, 256, 4, 32], [256, 1408, 8, 1408]];

    internal static string Source(bool broken = false)
    {
        var source = new StringBuilder("#include \"sageptq.cuh\"\n");
        int n = 0;
        void Kernel(string args, string call) =>
            source.Append($"extern \"C\" __global__ void __launch_bounds__(SAGEPTQ_THREADS) kernel{n++:D2}(const sageptq::{args} args)\n{{\n    sageptq::{call}(args);\n}}\n");
        foreach (var s in SageSets) Kernel("LinearArgs", $"sage::gemv<{string.Join(", ", s)}>");
        foreach (var s in SageSets.Where(s => s.Length == 7)) Kernel("sage::PrepareArgs", $"sage::prepare_activation<{string.Join(", ", s)}>");
        foreach (var u in UniformSets) Kernel("LinearArgs", $"uniform::gemv<{string.Join(", ", u)}>");
        Kernel("LinearArgs", "f16::gemv<256, 256>");
        Kernel("LinearArgs", "f16::gemv<32000, 4096>");
        foreach (int hidden in new[] { 256, 4096 }) Kernel("NormArgs", $"rms_norm_quantize<{hidden}>");
        foreach (int hidden in new[] { 256, 4096 }) Kernel("ResidualArgs", $"add_residual<{hidden}>");
        foreach (int intermediate in new[] { 704, 11008 }) Kernel("SwigluArgs", $"swiglu_quantize<{intermediate}>");
        foreach (string heads in new[] { "4, 2, 64", "32, 32, 128", "32, 8, 128" })
        {
            Kernel("RopeArgs", $"rope_and_cache<{heads}>");
            Kernel("AttentionArgs", $"attention<{heads}>");
        }
        if (broken) Kernel("LinearArgs", "sage::gemv<256, 256, 0>");   // too few constants: must not compile
        return source.ToString();
    }

    private static (int ExitCode, string Output) Check(string source)
    {
        using var temp = TestAssets.NewTempDir();
        string file = temp.File("layer.cu");
        File.WriteAllText(file, source);
        return Clang.Run(Clang.CudaCompiler!,
        [
            "-x", "cuda", "--cuda-device-only", "--cuda-gpu-arch=sm_80", "-nocudainc", "-nocudalib",
            "-include", Path.Combine(Clang.TemplateDir, "clang_prelude.h"), "-I", Clang.TemplateDir,
            "-fsyntax-only", "-Wall", "-Werror", file,
        ]);
    }

    [ClangFact]
    public void EveryTemplateCompilesForTheDevice()
    {
        var (exitCode, output) = Check(Source());
        Assert.True(exitCode == 0, output);
    }

    [ClangFact]
    public void AWrongInstantiationIsRejected()
    {
        var (exitCode, output) = Check(Source(broken: true));
        Assert.NotEqual(0, exitCode);
        Assert.Contains("error", output);
    }
}
