using System.Numerics.Tensors;

namespace SagePtq.Quantizer.Methods;

/// <summary>
/// GPTQ's column loop with lazy batch updates, shared by <c>gptq</c> and <c>septq</c>. Every array
/// is in processing order (act-order already applied). Rows never interact in GPTQ (one shared U,
/// per-row grids), so rows are processed in small chunks over the cores; inside a chunk, each
/// block of columns is quantized left to right with the in-block update, then the block's scaled
/// errors are pushed to the later columns row by row (the E·U[block, rest] product of the paper),
/// reusing each row of U across the chunk while it is in cache.
/// </summary>
internal sealed class GptqColumnLoop
{
    private const int ChunkRows = 16;

    /// <summary>Working weights rows × cols, updated in place (the error-compensated values).</summary>
    public required float[] Work { get; init; }
    public required int Rows { get; init; }
    public required int Cols { get; init; }
    /// <summary>Upper Cholesky factor of the damped inverse Hessian, cols × cols, in float.</summary>
    public required float[] Upper { get; init; }
    public required int Bits { get; init; }
    /// <summary>Effective group size in processing order (cols for one group per row).</summary>
    public required int GroupSize { get; init; }
    public required int BlockSize { get; init; }
    public required GridRange Range { get; init; }
    /// <summary>True: <see cref="Grids"/> is filled before the loop and kept. False: each group is
    /// fitted on the current (compensated) values when its first column is reached, as GPTQ's code does.</summary>
    public required bool StaticGrids { get; init; }
    /// <summary>rows × groups grids (input when static, output otherwise).</summary>
    public required GroupGrid[] Grids { get; init; }
    /// <summary>rows × cols: weights kept in FP16 instead of the grid (SEPTQ), or null.</summary>
    public bool[]? Reserved { get; init; }

    /// <summary>Output codes, rows × cols (a reserved weight gets its group's zero point).</summary>
    public required byte[] Codes { get; init; }
    /// <summary>Output values, rows × cols: grid values, or the FP16-rounded current value where reserved.</summary>
    public required float[] Values { get; init; }

    /// <summary>
    /// Fits the grid of the group starting at column j on its fully compensated values. Columns
    /// past the block end i2 have not yet received the current block's lazy update, so the pending
    /// part Σ_k E[k]·U[k, c] (k from i1 to j−1) is subtracted here. GPTQ's code fits on the values
    /// as of the block start instead; the two agree when groups start at block starts (g = B, the
    /// g128 / B128 default) and this one is what the paper's column-by-column algorithm does.
    /// </summary>
    private GroupGrid FitCurrentGroup(Span<float> row, int j, int i1, int i2, ReadOnlySpan<float> pendingErrors, float[] buffer)
    {
        int length = Math.Min(GroupSize, Cols - j);
        var values = buffer.AsSpan(0, length);
        row.Slice(j, length).CopyTo(values);
        int beyond = j + length - i2;
        if (beyond > 0)
        {
            var tail = values.Slice(i2 - j);
            for (int k = 0; k < pendingErrors.Length; k++)
                TensorPrimitives.MultiplyAdd(Upper.AsSpan((int)((long)(i1 + k) * Cols + i2), beyond), -pendingErrors[k], tail, tail);
        }
        return QuantizationGrid.Fit(values, Bits, Range);
    }

    public void Run(string name)
    {
        int chunks = (Rows + ChunkRows - 1) / ChunkRows;
        UniformTarget.ParallelFor(name, chunks, chunk => RunChunk(chunk * ChunkRows, Math.Min(Rows, (chunk + 1) * ChunkRows)));
    }

    private void RunChunk(int r0, int r1)
    {
        int cols = Cols, groups = (cols + GroupSize - 1) / GroupSize, maxCode = (1 << Bits) - 1;
        var errors = new float[(r1 - r0) * BlockSize];
        var groupValues = new float[GroupSize];
        for (int i1 = 0; i1 < cols; i1 += BlockSize)
        {
            int i2 = Math.Min(i1 + BlockSize, cols);
            for (int j = i1; j < i2; j++)
            {
                float diagonal = Upper[(long)j * cols + j];
                var inBlock = Upper.AsSpan((int)((long)j * cols + j + 1), i2 - j - 1);
                int group = j / GroupSize;
                bool groupStart = !StaticGrids && j % GroupSize == 0;
                for (int r = r0; r < r1; r++)
                {
                    var row = Work.AsSpan(r * cols, cols);
                    int slot = r * groups + group;
                    if (groupStart) Grids[slot] = FitCurrentGroup(row, j, i1, i2, errors.AsSpan((r - r0) * BlockSize, j - i1), groupValues);
                    var grid = Grids[slot];
                    float w = row[j], q;
                    int code;
                    if (Reserved is not null && Reserved[r * cols + j])
                    {
                        code = grid.Zero;
                        var kept = (Half)w;
                        if (Half.IsInfinity(kept)) throw new InvalidDataException($"reserved weight [{r}, {j}] = {w} does not fit in FP16");
                        q = (float)kept;
                    }
                    else
                    {
                        code = QuantizationGrid.Code(w, grid, maxCode);
                        q = QuantizationGrid.Value(code, grid);
                    }
                    Codes[r * cols + j] = (byte)code;
                    Values[r * cols + j] = q;
                    float error = (w - q) / diagonal;
                    var rest = row.Slice(j + 1, i2 - j - 1);
                    TensorPrimitives.MultiplyAdd(inBlock, -error, rest, rest);
                    errors[(r - r0) * BlockSize + (j - i1)] = error;
                }
            }
            if (i2 == cols) continue;
            // Lazy batch update: W[:, i2:] −= E · U[i1:i2, i2:].
            for (int k = 0; k < i2 - i1; k++)
            {
                var later = Upper.AsSpan((int)((long)(i1 + k) * cols + i2), cols - i2);
                for (int r = r0; r < r1; r++)
                {
                    float error = errors[(r - r0) * BlockSize + k];
                    if (error == 0) continue;
                    var rest = Work.AsSpan(r * cols + i2, cols - i2);
                    TensorPrimitives.MultiplyAdd(later, -error, rest, rest);
                }
            }
        }
    }
}
