using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SagePtq.Runtime.Cpu;

/// <summary>
/// The FP32-accumulating product of FP16 or FP32 weight rows with FP32 inputs, shared by
/// <see cref="HalfCpuLinear"/> and <see cref="DecodedCpuLinear"/>. Rows are taken four at a time and
/// walked in chunks of <see cref="Chunk"/> columns: an FP16 chunk is converted once into a stack
/// buffer, then every token's inputs are multiplied against it, so a prefill batch reads the weights
/// once (rows outer, tokens inner).
/// </summary>
internal static unsafe class FloatRowKernel
{
    /// <summary>Columns converted per step: 4 rows × 256 floats = 4 KiB of stack, well inside L1.</summary>
    public const int Chunk = 256;

    /// <summary>Rows per tile.</summary>
    public const int RowTile = 4;

    /// <summary>
    /// output[t·rows + r] = Σ_c W[r, c]·input[t·cols + c] for r in [rowStart, rowEnd), t &lt; tokens.
    /// <paramref name="weights"/> holds rows × cols values, FP16 when <paramref name="isHalf"/>, else FP32.
    /// </summary>
    [SkipLocalsInit]
    public static void Multiply(byte* weights, bool isHalf, int rows, int cols, float* input, int tokens, Span<float> output, int rowStart, int rowEnd)
    {
        if ((long)tokens * rows > output.Length)
            throw new ArgumentException($"output holds {output.Length} values, {tokens} tokens × {rows} rows are needed", nameof(output));
        float* converted = stackalloc float[RowTile * Chunk];
        int elementBytes = isHalf ? 2 : 4;
        fixed (float* outBase = output)
        {
            for (int r0 = rowStart; r0 < rowEnd; r0 += RowTile)
            {
                int tileRows = Math.Min(RowTile, rowEnd - r0);
                for (int t = 0; t < tokens; t++)
                    for (int i = 0; i < tileRows; i++) outBase[(long)t * rows + r0 + i] = 0;

                for (int c0 = 0; c0 < cols; c0 += Chunk)
                {
                    int n = Math.Min(Chunk, cols - c0);
                    // A short tile repeats its last row; the repeated sums are computed and dropped.
                    if (isHalf && tokens == 1 && Avx2.IsSupported && Fma.IsSupported)
                    {
                        // One input (generation): convert in registers instead of through the buffer.
                        int last = r0 + tileRows - 1;
                        var h0 = (ushort*)(weights + ((long)r0 * cols + c0) * 2);
                        var h1 = (ushort*)(weights + ((long)Math.Min(r0 + 1, last) * cols + c0) * 2);
                        var h2 = (ushort*)(weights + ((long)Math.Min(r0 + 2, last) * cols + c0) * 2);
                        var h3 = (ushort*)(weights + ((long)last * cols + c0) * 2);
                        Dot4Half(h0, h1, h2, h3, input + c0, n, out float s0, out float s1, out float s2, out float s3);
                        float* o = outBase + r0;
                        o[0] += s0;
                        if (tileRows > 1) o[1] += s1;
                        if (tileRows > 2) o[2] += s2;
                        if (tileRows > 3) o[3] += s3;
                        continue;
                    }
                    float* w0 = RowChunk(0), w1 = RowChunk(1), w2 = RowChunk(2), w3 = RowChunk(3);
                    for (int t = 0; t < tokens; t++)
                    {
                        Dot4(w0, w1, w2, w3, input + (long)t * cols + c0, n, out float s0, out float s1, out float s2, out float s3);
                        float* o = outBase + (long)t * rows + r0;
                        o[0] += s0;
                        if (tileRows > 1) o[1] += s1;
                        if (tileRows > 2) o[2] += s2;
                        if (tileRows > 3) o[3] += s3;
                    }

                    float* RowChunk(int i)
                    {
                        int row = r0 + Math.Min(i, tileRows - 1);
                        byte* source = weights + ((long)row * cols + c0) * elementBytes;
                        if (!isHalf) return (float*)source;
                        if (i >= tileRows) return converted + (tileRows - 1) * Chunk;
                        float* destination = converted + i * Chunk;
                        HalfConversion.ToSingle(new ReadOnlySpan<Half>(source, n), new Span<float>(destination, n));
                        return destination;
                    }
                }
            }
        }
    }

    /// <summary>Writes row <paramref name="row"/> as FP32.</summary>
    public static void DecodeRow(byte* weights, bool isHalf, int cols, int row, Span<float> destination)
    {
        if (destination.Length < cols) throw new ArgumentException($"destination holds {destination.Length} values, the row has {cols}", nameof(destination));
        if (isHalf) HalfConversion.ToSingle(new ReadOnlySpan<Half>(weights + (long)row * cols * 2, cols), destination);
        else new ReadOnlySpan<float>(weights + (long)row * cols * 4, cols).CopyTo(destination);
    }

    /// <summary>Four dot products of length <paramref name="n"/> against one input, loading each input vector once.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dot4(float* w0, float* w1, float* w2, float* w3, float* x, int n, out float s0, out float s1, out float s2, out float s3)
    {
        int c = 0;
        s0 = s1 = s2 = s3 = 0;
        if (Vector256.IsHardwareAccelerated && n >= Vector256<float>.Count)
        {
            var a0 = Vector256<float>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
            for (; c <= n - Vector256<float>.Count; c += Vector256<float>.Count)
            {
                var xv = Vector256.Load(x + c);
                a0 = MultiplyAdd(Vector256.Load(w0 + c), xv, a0);
                a1 = MultiplyAdd(Vector256.Load(w1 + c), xv, a1);
                a2 = MultiplyAdd(Vector256.Load(w2 + c), xv, a2);
                a3 = MultiplyAdd(Vector256.Load(w3 + c), xv, a3);
            }
            s0 = Vector256.Sum(a0); s1 = Vector256.Sum(a1); s2 = Vector256.Sum(a2); s3 = Vector256.Sum(a3);
        }
        for (; c < n; c++)
        {
            float xc = x[c];
            s0 += w0[c] * xc; s1 += w1[c] * xc; s2 += w2[c] * xc; s3 += w3[c] * xc;
        }
    }

    /// <summary><see cref="Dot4"/> over FP16 rows, converting eight halves at a time in registers (AVX2 + FMA only).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dot4Half(ushort* w0, ushort* w1, ushort* w2, ushort* w3, float* x, int n, out float s0, out float s1, out float s2, out float s3)
    {
        var a0 = Vector256<float>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
        int c = 0;
        for (; c <= n - 8; c += 8)
        {
            var xv = Avx.LoadVector256(x + c);
            a0 = Fma.MultiplyAdd(HalfConversion.ToSingle8(w0 + c), xv, a0);
            a1 = Fma.MultiplyAdd(HalfConversion.ToSingle8(w1 + c), xv, a1);
            a2 = Fma.MultiplyAdd(HalfConversion.ToSingle8(w2 + c), xv, a2);
            a3 = Fma.MultiplyAdd(HalfConversion.ToSingle8(w3 + c), xv, a3);
        }
        s0 = Vector256.Sum(a0); s1 = Vector256.Sum(a1); s2 = Vector256.Sum(a2); s3 = Vector256.Sum(a3);
        for (; c < n; c++)
        {
            float xc = x[c];
            s0 += (float)BitConverter.UInt16BitsToHalf(w0[c]) * xc;
            s1 += (float)BitConverter.UInt16BitsToHalf(w1[c]) * xc;
            s2 += (float)BitConverter.UInt16BitsToHalf(w2[c]) * xc;
            s3 += (float)BitConverter.UInt16BitsToHalf(w3[c]) * xc;
        }
    }


    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> MultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) =>
        Fma.IsSupported ? Fma.MultiplyAdd(a, b, c) : a * b + c;

    /// <summary>Allocates 64-byte aligned native memory for <paramref name="count"/> values of <typeparamref name="T"/> (at least one).</summary>
    public static T* Allocate<T>(long count) where T : unmanaged =>
        (T*)NativeMemory.AlignedAlloc((nuint)(Math.Max(1, count) * sizeof(T)), 64);

    public static void Free(void* pointer)
    {
        if (pointer != null) NativeMemory.AlignedFree(pointer);
    }
}
