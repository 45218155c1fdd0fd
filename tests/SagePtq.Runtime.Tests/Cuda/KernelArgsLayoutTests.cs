using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using SagePtq.Runtime.Cuda.Model;

using SagePtq.Tests;

namespace SagePtq.Runtime.Tests.Cuda;

/// <summary>
/// The C# argument structs against templates/cuda/sageptq.cuh: every field's offset is computed from the
/// header's own struct text with the C layout rules for 64-bit pointers (a naive oracle), and each size must
/// be the one the header's static_assert fixes (224/64/64/48/56/24/144/48).
/// </summary>
public sealed class KernelArgsLayoutTests
{
    public static TheoryData<string, Type, int> Structs => new()
    {
        { "LinearArgs", typeof(LinearArgs), 224 },
        { "NormArgs", typeof(NormArgs), 64 },
        { "RopeArgs", typeof(RopeArgs), 64 },
        { "AttentionArgs", typeof(AttentionArgs), 48 },
        { "SwigluArgs", typeof(SwigluArgs), 56 },
        { "ResidualArgs", typeof(ResidualArgs), 24 },
        { "PrepareArgs", typeof(PrepareArgs), 144 },
        { "PrefetchArgs", typeof(PrefetchArgs), 48 },
    };

    [Theory]
    [MemberData(nameof(Structs))]
    public void Sizes_and_offsets_match_the_header(string cName, Type type, int size)
    {
        var header = File.ReadAllText(Path.Combine(TestAssets.RepoRoot, "templates", "cuda", "sageptq.cuh"));
        Assert.Contains($"static_assert(sizeof({cName}) == {size}", header, StringComparison.Ordinal);
        var fields = HeaderFields(header, cName);
        var managed = type.GetFields(System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Public);
        Assert.Equal(fields.Count, managed.Length);
        int offset = 0, alignment = 1;
        for (int i = 0; i < fields.Count; i++)
        {
            var (cField, elementBytes, count) = fields[i];
            offset = (offset + elementBytes - 1) / elementBytes * elementBytes;
            alignment = Math.Max(alignment, elementBytes);
            Assert.Equal(Pascal(cField), managed[i].Name);
            Assert.Equal(offset, (int)Marshal.OffsetOf(type, managed[i].Name));
            offset += elementBytes * count;
        }
        int cSize = (offset + alignment - 1) / alignment * alignment;
        Assert.Equal(size, cSize);
        Assert.Equal(size, Marshal.SizeOf(type));
        Assert.Equal(size, (int)typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!.MakeGenericMethod(type).Invoke(null, null)!);
    }

    /// <summary>The fields of struct <paramref name="name"/> in the header: name, element bytes, element count.</summary>
    private static List<(string Name, int Bytes, int Count)> HeaderFields(string header, string name)
    {
        var body = Regex.Match(header, @"struct " + name + @" \{(.*?)\n\};", RegexOptions.Singleline);
        Assert.True(body.Success, $"struct {name} not found in the header");
        var result = new List<(string, int, int)>();
        foreach (var raw in body.Groups[1].Value.Split('\n'))
        {
            var line = Regex.Replace(raw, "//.*", "").Trim();
            if (line.Length == 0) continue;
            var m = Regex.Match(line, @"^(?:const\s+)?(\w+)\s*(\*?)\s*(?:const\s+)?(\*?)\s*(\w+)(?:\[(\w+)\])?;$");
            Assert.True(m.Success, $"cannot read the field '{line}' of {name}");
            bool pointer = m.Groups[2].Value == "*" || m.Groups[3].Value == "*";
            int bytes = pointer ? 8 : m.Groups[1].Value switch
            {
                "int64_t" or "uint64_t" => 8,
                "int32_t" or "uint32_t" or "float" or "int" => 4,
                "uint16_t" => 2,
                "int8_t" or "uint8_t" => 1,
                var other => throw new InvalidOperationException($"unknown type {other} in {name}"),
            };
            int count = m.Groups[5].Success ? (m.Groups[5].Value == "SAGEPTQ_MAX_SECTIONS" ? LinearArgs.MaxSections : int.Parse(m.Groups[5].Value)) : 1;
            result.Add((m.Groups[4].Value, bytes, count));
        }
        return result;
    }

    private static string Pascal(string snake) => string.Concat(snake.Split('_').Select(p => p.Length == 0 ? p : char.ToUpperInvariant(p[0]) + p[1..]));
}
