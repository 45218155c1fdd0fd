using System.Buffers.Binary;
using System.Text;

namespace SagePtq.Runtime.Packing;

/// <summary>How the bytes of one tensor in the pack are to be read (the table's data-type code).</summary>
public enum PackDataType : uint
{
    /// <summary>Opaque bytes: a linear's layout section, or an embedded file such as tokenizer.json.</summary>
    Bytes = 1,
    /// <summary>IEEE binary16, little-endian, row-major.</summary>
    Float16 = 2,
    /// <summary>IEEE binary32, little-endian, row-major.</summary>
    Float32 = 3,
}

/// <summary>
/// The constants and the fixed header of <c>model.sagepack</c> (docs/pack-format.md is the byte-level
/// description). Every multi-byte number is little-endian.
/// </summary>
public static class PackFormat
{
    public const string PackFileName = "model.sagepack";
    public const string ManifestFileName = "model.manifest.json";

    /// <summary>The tensor name under which the tokenizer.json bytes are stored.</summary>
    public const string TokenizerTensorName = "tokenizer.json";

    /// <summary>
    /// The format version this code writes and the only one it reads. Version 2 stores sage signs in
    /// the plane order of <c>SignPlanes</c> (version 1 had plain bit order); older packs are refused
    /// with a request to re-quantize rather than read wrongly.
    /// </summary>
    public const uint FormatVersion = 2;

    /// <summary>Header size; also where the payload region starts.</summary>
    public const int HeaderBytes = 128;

    /// <summary>Every tensor, and the table, starts at a multiple of this (one cache line; enough for AVX-512 loads).</summary>
    public const int Alignment = 64;

    /// <summary>"SAGEPACK" in ASCII.</summary>
    public static ReadOnlySpan<byte> Magic => "SAGEPACK"u8;

    /// <summary>The bytes of the header the header checksum covers (all but the checksum itself).</summary>
    internal const int HeaderChecksumOffset = 120;

    public static string DataTypeName(PackDataType type) => type switch
    {
        PackDataType.Bytes => "bytes",
        PackDataType.Float16 => "f16",
        PackDataType.Float32 => "f32",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "unknown pack data type"),
    };

    public static bool TryParseDataType(string name, out PackDataType type)
    {
        type = name switch { "bytes" => PackDataType.Bytes, "f16" => PackDataType.Float16, "f32" => PackDataType.Float32, _ => 0 };
        return type != 0;
    }

    /// <summary>Bytes per element, 1 for <see cref="PackDataType.Bytes"/>.</summary>
    public static int ElementBytes(PackDataType type) => type switch
    {
        PackDataType.Float16 => 2,
        PackDataType.Float32 => 4,
        _ => 1,
    };

    /// <summary>The section tensor name of a linear: <c>{linearName}/{sectionName}</c>.</summary>
    public static string SectionTensorName(string linearName, string sectionName) => $"{linearName}/{sectionName}";

    internal static long AlignUp(long value) => (value + Alignment - 1) / Alignment * Alignment;
}

/// <summary>The fixed 128-byte header of <c>model.sagepack</c>.</summary>
internal sealed record PackHeader(
    uint FormatVersion, uint Flags, byte[] ManifestSha256,
    long PayloadOffset, long PayloadLength, ulong PayloadChecksum,
    long TableOffset, long TableLength, int TensorCount, ulong TableChecksum)
{
    public long FileLength => TableOffset + TableLength;

    public void WriteTo(Span<byte> header)
    {
        header[..PackFormat.HeaderBytes].Clear();
        PackFormat.Magic.CopyTo(header);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], FormatVersion);
        BinaryPrimitives.WriteUInt32LittleEndian(header[12..], Flags);
        ManifestSha256.CopyTo(header[16..48]);
        BinaryPrimitives.WriteInt64LittleEndian(header[48..], PayloadOffset);
        BinaryPrimitives.WriteInt64LittleEndian(header[56..], PayloadLength);
        BinaryPrimitives.WriteUInt64LittleEndian(header[64..], PayloadChecksum);
        BinaryPrimitives.WriteInt64LittleEndian(header[72..], TableOffset);
        BinaryPrimitives.WriteInt64LittleEndian(header[80..], TableLength);
        BinaryPrimitives.WriteInt32LittleEndian(header[88..], TensorCount);
        BinaryPrimitives.WriteInt32LittleEndian(header[92..], PackFormat.HeaderBytes);
        BinaryPrimitives.WriteUInt64LittleEndian(header[96..], TableChecksum);
        BinaryPrimitives.WriteUInt64LittleEndian(header[PackFormat.HeaderChecksumOffset..],
            Xxh64.Hash(header[..PackFormat.HeaderChecksumOffset]));
    }

    /// <summary>Parses and checks the header alone (magic, version, checksum, flags, reserved bytes).</summary>
    public static PackHeader Read(ReadOnlySpan<byte> header, string path)
    {
        if (!header[..8].SequenceEqual(PackFormat.Magic))
            throw new ModelFileException(path, "is not a SagePtq pack (wrong magic bytes)");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(header[8..]);
        if (version > PackFormat.FormatVersion)
            throw new ModelFileException(path, $"pack format version {version} is newer than this runtime reads (up to {PackFormat.FormatVersion}); update SagePtq or re-quantize");
        if (version < PackFormat.FormatVersion)
            throw new ModelFileException(path, $"pack format version {version} is older than this runtime reads ({PackFormat.FormatVersion}); re-quantize the model with this SagePtq");
        ulong stored = BinaryPrimitives.ReadUInt64LittleEndian(header[PackFormat.HeaderChecksumOffset..]);
        if (stored != Xxh64.Hash(header[..PackFormat.HeaderChecksumOffset]))
            throw new ModelFileException(path, "header checksum does not match: the header is corrupted");
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(header[12..]);
        if (flags != 0)
            throw new ModelFileException(path, $"header flags 0x{flags:X8} are unknown to this runtime");
        int headerLength = BinaryPrimitives.ReadInt32LittleEndian(header[92..]);
        if (headerLength != PackFormat.HeaderBytes)
            throw new ModelFileException(path, $"header length {headerLength} is not {PackFormat.HeaderBytes}");
        if (header[104..120].ContainsAnyExcept((byte)0))
            throw new ModelFileException(path, "reserved header bytes are not zero");

        var result = new PackHeader(
            version, flags, header[16..48].ToArray(),
            BinaryPrimitives.ReadInt64LittleEndian(header[48..]),
            BinaryPrimitives.ReadInt64LittleEndian(header[56..]),
            BinaryPrimitives.ReadUInt64LittleEndian(header[64..]),
            BinaryPrimitives.ReadInt64LittleEndian(header[72..]),
            BinaryPrimitives.ReadInt64LittleEndian(header[80..]),
            BinaryPrimitives.ReadInt32LittleEndian(header[88..]),
            BinaryPrimitives.ReadUInt64LittleEndian(header[96..]));
        if (result.PayloadOffset != PackFormat.HeaderBytes || result.PayloadLength < 0 || result.PayloadLength % PackFormat.Alignment != 0
            || result.TableOffset != result.PayloadOffset + result.PayloadLength || result.TableLength < 0 || result.TensorCount < 0)
            throw new ModelFileException(path, $"header regions are inconsistent (payload {result.PayloadOffset}+{result.PayloadLength}, table {result.TableOffset}+{result.TableLength}, {result.TensorCount} tensors)");
        return result;
    }
}

/// <summary>One tensor table entry: where a named tensor's bytes lie in the file and how to read them.</summary>
public sealed record PackTableEntry(string Name, PackDataType DataType, long Offset, long Length)
{
    /// <summary>Longest name, in UTF-8 bytes, that a table entry may hold.</summary>
    public const int MaxNameBytes = 4096;

    internal static byte[] Serialize(IReadOnlyList<PackTableEntry> entries)
    {
        using var buffer = new MemoryStream();
        Span<byte> fixedPart = stackalloc byte[20];
        foreach (var entry in entries)
        {
            byte[] name = Encoding.UTF8.GetBytes(entry.Name);
            BinaryPrimitives.WriteInt32LittleEndian(fixedPart, name.Length);
            buffer.Write(fixedPart[..4]);
            buffer.Write(name);
            BinaryPrimitives.WriteUInt32LittleEndian(fixedPart, (uint)entry.DataType);
            BinaryPrimitives.WriteInt64LittleEndian(fixedPart[4..], entry.Offset);
            BinaryPrimitives.WriteInt64LittleEndian(fixedPart[12..], entry.Length);
            buffer.Write(fixedPart);
        }
        return buffer.ToArray();
    }

    /// <summary>Parses the table and checks each entry against the payload region (bounds, alignment, names).</summary>
    internal static List<PackTableEntry> Parse(ReadOnlySpan<byte> table, int count, long payloadOffset, long payloadLength, string path)
    {
        var entries = new List<PackTableEntry>(count);
        var names = new HashSet<string>(StringComparer.Ordinal);
        var utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        int at = 0;
        for (int i = 0; i < count; i++)
        {
            if (table.Length - at < 4) throw Bad($"entry {i} runs past the end of the table");
            int nameLength = BinaryPrimitives.ReadInt32LittleEndian(table[at..]);
            at += 4;
            if (nameLength <= 0 || nameLength > MaxNameBytes || table.Length - at < nameLength + 20)
                throw Bad($"entry {i} has an invalid name length {nameLength} or runs past the end of the table");
            string name;
            try { name = utf8.GetString(table.Slice(at, nameLength)); }
            catch (DecoderFallbackException) { throw Bad($"entry {i} name is not valid UTF-8"); }
            at += nameLength;
            var type = (PackDataType)BinaryPrimitives.ReadUInt32LittleEndian(table[at..]);
            long offset = BinaryPrimitives.ReadInt64LittleEndian(table[(at + 4)..]);
            long length = BinaryPrimitives.ReadInt64LittleEndian(table[(at + 12)..]);
            at += 20;
            if (!Enum.IsDefined(type)) throw Bad($"tensor '{name}' has unknown data type code {(uint)type}");
            if (offset % PackFormat.Alignment != 0) throw Bad($"tensor '{name}' offset {offset} is not {PackFormat.Alignment}-byte aligned");
            if (length < 0 || offset < payloadOffset || offset > payloadOffset + payloadLength || length > payloadOffset + payloadLength - offset)
                throw Bad($"tensor '{name}' bytes {offset}+{length} lie outside the payload region {payloadOffset}+{payloadLength}");
            if (length % PackFormat.ElementBytes(type) != 0) throw Bad($"tensor '{name}' length {length} is not a whole number of {PackFormat.DataTypeName(type)} elements");
            if (!names.Add(name)) throw Bad($"tensor '{name}' appears twice");
            entries.Add(new PackTableEntry(name, type, offset, length));
        }
        if (at != table.Length) throw Bad($"has {table.Length - at} bytes after its {count} entries");
        return entries;

        ModelFileException Bad(string problem) => new(path, $"tensor table: {problem}");
    }
}
