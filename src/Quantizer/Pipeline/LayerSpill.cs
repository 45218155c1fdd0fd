using System.Text;
using SagePtq.Runtime.Packing;

namespace SagePtq.Quantizer.Pipeline;

/// <summary>One finished linear as a resume file keeps it: what the pack writer needs, no dense copy.</summary>
public sealed record SpilledLinear(string Name, LinearPayload Payload, LinearStats Stats);

/// <summary>
/// The file format of one finished decoder layer in a resume folder (<see cref="ResumeStore"/>):
/// magic <c>SAGELYR1</c>, the layer index, then per linear its name, layout, shape, parameters,
/// sections and statistics (doubles as their exact bits), and an XXH64 of everything before it,
/// so a truncated or damaged file is detected and not trusted.
/// </summary>
internal static class LayerSpill
{
    private static readonly byte[] s_magic = "SAGELYR1"u8.ToArray();

    public static byte[] Serialize(int layer, IReadOnlyList<SpilledLinear> linears)
    {
        using var memory = new MemoryStream();
        using (var w = new BinaryWriter(memory, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(s_magic);
            w.Write(layer);
            w.Write(linears.Count);
            foreach (var (name, payload, stats) in linears)
            {
                w.Write(name);
                w.Write(payload.Layout);
                w.Write(payload.Rows);
                w.Write(payload.Cols);
                w.Write(payload.Parameters.Count);
                foreach (var (key, value) in payload.Parameters.OrderBy(p => p.Key, StringComparer.Ordinal)) { w.Write(key); w.Write(value); }
                w.Write(payload.Sections.Count);
                foreach (var section in payload.Sections) { w.Write(section.Name); w.Write(section.Bytes.Length); w.Write(section.Bytes); }
                w.Write(stats.GroupCount);
                w.Write(BitConverter.DoubleToInt64Bits(stats.SaliencyRatio));
                w.Write(stats.SalientCount);
                w.Write(stats.SalientBits);
                w.Write(BitConverter.DoubleToInt64Bits(stats.PaperBitsPerWeight));
            }
        }
        ulong hash = Xxh64.Hash(memory.GetBuffer().AsSpan(0, (int)memory.Length));
        memory.Write(BitConverter.GetBytes(hash));
        return memory.ToArray();
    }

    /// <summary>Reads a layer file back.</summary>
    /// <exception cref="InvalidDataException">Not a layer file, damaged, truncated, or of another layer.</exception>
    public static List<SpilledLinear> Deserialize(byte[] bytes, int expectedLayer)
    {
        if (bytes.Length < s_magic.Length + 8 || !bytes.AsSpan(0, s_magic.Length).SequenceEqual(s_magic))
            throw new InvalidDataException("not a SagePtq layer file");
        int body = bytes.Length - 8;
        if (Xxh64.Hash(bytes.AsSpan(0, body)) != BitConverter.ToUInt64(bytes, body))
            throw new InvalidDataException("checksum mismatch: the file is damaged or truncated");
        try
        {
            using var r = new BinaryReader(new MemoryStream(bytes, s_magic.Length, body - s_magic.Length), Encoding.UTF8);
            int layer = r.ReadInt32();
            if (layer != expectedLayer) throw new InvalidDataException($"holds layer {layer}, not {expectedLayer}");
            int count = r.ReadInt32();
            var linears = new List<SpilledLinear>(count);
            for (int k = 0; k < count; k++)
            {
                string name = r.ReadString(), layout = r.ReadString();
                int rows = r.ReadInt32(), cols = r.ReadInt32();
                var parameters = new Dictionary<string, int>(StringComparer.Ordinal);
                for (int p = r.ReadInt32(); p > 0; p--) parameters.Add(r.ReadString(), r.ReadInt32());
                var sections = new List<PayloadSection>();
                for (int s = r.ReadInt32(); s > 0; s--)
                {
                    string sectionName = r.ReadString();
                    int length = r.ReadInt32();
                    var data = r.ReadBytes(length);
                    if (data.Length != length) throw new InvalidDataException($"section {sectionName} of {name} is truncated");
                    sections.Add(new PayloadSection(sectionName, data));
                }
                var stats = new LinearStats(r.ReadInt32(), BitConverter.Int64BitsToDouble(r.ReadInt64()), r.ReadInt64(), r.ReadInt32(),
                    BitConverter.Int64BitsToDouble(r.ReadInt64()));
                linears.Add(new SpilledLinear(name, new LinearPayload(layout, rows, cols, parameters, sections), stats));
            }
            return linears;
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException("the file ends early", e);
        }
    }
}
