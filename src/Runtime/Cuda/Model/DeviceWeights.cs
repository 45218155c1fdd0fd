using System.Runtime.InteropServices;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Packing.Layouts;

namespace SagePtq.Runtime.Cuda.Model;

/// <summary>
/// Where each uploaded linear's sections lie in device memory: one allocation for all of them, each section
/// at a 256-byte boundary (the kernels need 16), in the order <see cref="LinearArgs.Sections"/> expects
/// (pack order). Planned on the host first (<see cref="Plan"/>), so the layout is tested without a device.
/// </summary>
internal sealed class DeviceWeights : IDisposable
{
    /// <summary>Alignment of every section in the allocation.</summary>
    public const int SectionAlignment = 256;

    private readonly DeviceBuffer? _buffer;

    private DeviceWeights(DeviceBuffer? buffer, WeightPlan plan)
    {
        _buffer = buffer;
        Plan = plan;
    }

    /// <summary>The layout of the allocation.</summary>
    public WeightPlan Plan { get; }

    /// <summary>The allocation's device address.</summary>
    public ulong Base => _buffer?.Pointer ?? 0;

    /// <summary>Section pointers and lengths of linear <paramref name="name"/> for its <see cref="LinearArgs"/>.</summary>
    public unsafe void Fill(string name, ref LinearArgs args)
    {
        var sections = Plan.Linears[name];
        for (int k = 0; k < LinearArgs.MaxSections; k++)
        {
            args.Sections[k] = k < sections.Count ? Base + (ulong)sections[k].Offset : 0;
            args.SectionBytes[k] = k < sections.Count ? sections[k].Length : 0;
        }
    }

    /// <summary>Section pointers of linear <paramref name="name"/> for its <see cref="PrepareArgs"/>.</summary>
    public unsafe void Fill(string name, ref PrepareArgs args)
    {
        var sections = Plan.Linears[name];
        for (int k = 0; k < LinearArgs.MaxSections; k++) args.Sections[k] = k < sections.Count ? Base + (ulong)sections[k].Offset : 0;
    }

    /// <summary>
    /// The device bytes of linear <paramref name="name"/>: from its first section to the end of its last (its sections
    /// lie one after another, with only alignment padding between them).
    /// </summary>
    public (ulong Start, long Bytes) Span(string name)
    {
        var sections = Plan.Linears[name];
        long first = sections[0].Offset, end = sections[^1].Offset + sections[^1].Length;
        return (Base + (ulong)first, end - first);
    }

    /// <summary>Allocates <paramref name="plan"/>'s bytes on <paramref name="device"/> and copies each section in.</summary>
    public static DeviceWeights Upload(CudaDevice device, WeightPlan plan, SectionReader sectionBytes)
    {
        var buffer = device.Allocate(Math.Max(plan.TotalBytes, SectionAlignment));
        try
        {
            foreach (var (name, sections) in plan.Linears)
                for (int k = 0; k < sections.Count; k++)
                    buffer.CopyFrom(sectionBytes(name, k), sections[k].Offset);
            return new DeviceWeights(buffer, plan);
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    public void Dispose() => _buffer?.Dispose();
}

/// <summary>Reads section <paramref name="index"/> of linear <paramref name="name"/>.</summary>
internal delegate ReadOnlySpan<byte> SectionReader(string name, int index);

/// <summary>One section placed in the device allocation.</summary>
internal readonly record struct PlacedSection(long Offset, long Length);

/// <summary>The placement of every linear's sections: offsets aligned to <see cref="DeviceWeights.SectionAlignment"/>.</summary>
internal sealed class WeightPlan
{
    /// <summary>Each linear's sections in pack order.</summary>
    public Dictionary<string, IReadOnlyList<PlacedSection>> Linears { get; } = new(StringComparer.Ordinal);

    /// <summary>Bytes of the allocation.</summary>
    public long TotalBytes { get; private set; }

    /// <summary>Bytes of the sections themselves (what one token reads).</summary>
    public long SectionBytes { get; private set; }

    /// <summary>Places linear <paramref name="name"/> with sections of the given lengths after those placed so far.</summary>
    public void Add(string name, IEnumerable<long> lengths)
    {
        var placed = new List<PlacedSection>();
        foreach (long length in lengths)
        {
            if (placed.Count == LinearArgs.MaxSections)
                throw new InvalidDataException($"{name} has more than {LinearArgs.MaxSections} sections, more than the kernels take");
            long at = (TotalBytes + DeviceWeights.SectionAlignment - 1) / DeviceWeights.SectionAlignment * DeviceWeights.SectionAlignment;
            placed.Add(new PlacedSection(at, length));
            TotalBytes = at + length;
            SectionBytes += length;
        }
        if (!Linears.TryAdd(name, placed)) throw new ArgumentException($"{name} is placed twice", nameof(name));
    }
}

/// <summary>The bytes of a pack's linears (sections as stored) and plain float tensors (as f16), for upload.</summary>
internal static class PackSections
{
    /// <summary>
    /// Section <paramref name="index"/> of linear record <paramref name="name"/>, straight from the mapping, except
    /// the <c>signs</c> of a sage linear stored row-tiled (<see cref="SageFlags.TiledSigns"/>): the CUDA kernels read
    /// plane-order rows, so those are untiled here on the host into a temporary array before the copy to the device.
    /// </summary>
    public static ReadOnlySpan<byte> Of(PackedModel pack, string name, int index)
    {
        var record = pack.Manifest.FindLinear(name);
        if (record is not null)
        {
            var section = record.Sections[index].Name;
            var bytes = pack.GetTensorBytes(PackFormat.SectionTensorName(name, section));
            if (record.Layout == SageLayout.LayoutName && section == "signs"
                && record.Parameters.TryGetValue("flags", out int flags) && (flags & (int)SageFlags.TiledSigns) != 0)
            {
                var planes = new byte[bytes.Length];
                SignPlanes.Untile(bytes, planes, record.Rows, record.Cols);
                return planes;
            }
            return bytes;
        }
        // A plain float tensor (LM head, tied embedding): its one section is the f16 matrix.
        var tensor = pack.Manifest.FindTensor(name) ?? throw new KeyNotFoundException($"'{name}' is neither a linear nor a tensor of {pack.PackPath}");
        if (tensor.DataType == PackDataType.Float16) return pack.GetTensorBytes(name);
        var floats = pack.ReadFloats(name);
        var halves = new Half[floats.Length];
        for (int i = 0; i < floats.Length; i++) halves[i] = (Half)floats[i];
        return MemoryMarshal.AsBytes(halves.AsSpan());
    }
}
