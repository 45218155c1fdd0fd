namespace SagePtq.Runtime.Packing;

/// <summary>One named array of bytes a quantized linear stores in the pack (signs, codes, scales, indices...).</summary>
public sealed record PayloadSection(string Name, byte[] Bytes);

/// <summary>
/// Everything one quantized linear stores: the layout that says how to read it, its shape
/// [<see cref="Rows"/> = out features, <see cref="Cols"/> = in features], the layout's small integer
/// parameters (bits, group size, K...) and its sections. This is what the pack holds and what
/// DESIGN.md §3 counts: every section byte, plus 4 bytes per parameter.
/// </summary>
public sealed record LinearPayload(
    string Layout, int Rows, int Cols,
    IReadOnlyDictionary<string, int> Parameters,
    IReadOnlyList<PayloadSection> Sections)
{
    /// <summary>Every byte this linear takes in the pack.</summary>
    public long StoredBytes => Sections.Sum(s => (long)s.Bytes.Length) + 4L * Parameters.Count;

    /// <summary>Storage bits per weight (DESIGN.md §3).</summary>
    public double StorageBitsPerWeight => 8.0 * StoredBytes / ((long)Rows * Cols);

    /// <summary>The section called <paramref name="name"/>.</summary>
    /// <exception cref="InvalidDataException">The payload has no such section.</exception>
    public byte[] Section(string name) =>
        Sections.FirstOrDefault(s => s.Name == name)?.Bytes
        ?? throw new InvalidDataException($"layout '{Layout}' payload has no section '{name}'");

    /// <summary>The parameter called <paramref name="name"/>.</summary>
    /// <exception cref="InvalidDataException">The payload has no such parameter.</exception>
    public int Parameter(string name) =>
        Parameters.TryGetValue(name, out int value) ? value
        : throw new InvalidDataException($"layout '{Layout}' payload has no parameter '{name}'");
}

/// <summary>
/// What a quantized linear is, beyond its bytes, as the manifest records it: the group count K
/// (1 where the method has no groups), the fraction and number of salient (or reserved) weights and
/// their bit width, and the bits per weight the way the method's paper counts them.
/// </summary>
public sealed record LinearStats(int GroupCount, double SaliencyRatio, long SalientCount, int SalientBits, double PaperBitsPerWeight);

/// <summary>
/// One way of laying out a quantized linear: reads a <see cref="LinearPayload"/> of its own layout back
/// into the dense row-major weights it stands for. Encoders live beside their decoder, in the same file,
/// so that each format is defined in one place.
/// </summary>
public interface ILinearLayout
{
    /// <summary>The <see cref="LinearPayload.Layout"/> name this layout reads.</summary>
    string Name { get; }

    /// <summary>Writes the dense weights (rows × cols, row-major) into <paramref name="destination"/>.</summary>
    /// <exception cref="InvalidDataException">The payload is malformed (sizes, parameters).</exception>
    void Decode(LinearPayload payload, Span<float> destination);
}
