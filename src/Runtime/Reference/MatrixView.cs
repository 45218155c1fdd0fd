namespace SagePtq.Runtime.Reference;

/// <summary>
/// A row-major window into a float array: <see cref="Rows"/> × <see cref="Columns"/>, with
/// <see cref="Stride"/> floats from one row to the next. Lets one head of Q, a range of KV-cache
/// positions or a block of C be handed to the GEMM without copying. The constructor checks the
/// window lies inside the array, which is what allows the kernels to index without bounds checks.
/// </summary>
internal readonly record struct MatrixView
{
    public MatrixView(float[] data, int offset, int rows, int columns, int stride)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(columns);
        ArgumentOutOfRangeException.ThrowIfLessThan(stride, columns);
        if (rows > 0 && (long)offset + (long)(rows - 1) * stride + columns > data.Length)
            throw new ArgumentException($"a {rows}×{columns} view with stride {stride} at {offset} does not fit in {data.Length} floats");
        (Data, Offset, Rows, Columns, Stride) = (data, offset, rows, columns, stride);
    }

    /// <summary>A whole dense <paramref name="rows"/> × <paramref name="columns"/> matrix stored at the start of <paramref name="data"/>.</summary>
    public static MatrixView Dense(float[] data, int rows, int columns) => new(data, 0, rows, columns, columns);

    public float[] Data { get; }
    public int Offset { get; }
    public int Rows { get; }
    public int Columns { get; }
    public int Stride { get; }

    public Span<float> Row(int row) => Data.AsSpan(Offset + row * Stride, Columns);

    public ref float this[int row, int column] => ref Data[Offset + row * Stride + column];

    public MatrixView RowRange(int first, int count) => new(Data, Offset + first * Stride, count, Columns, Stride);

    public MatrixView ColumnRange(int first, int count) => new(Data, Offset + first, Rows, count, Stride);
}
