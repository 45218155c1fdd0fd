using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Packing.Layouts;
using SagePtq.Runtime.Tests.Cpu;

namespace SagePtq.Runtime.Tests.Packing;

/// <summary><see cref="SageLayout"/> with <see cref="SageFlags.TiledSigns"/>: the signs section reordered, nothing else changed.</summary>
public sealed class SageLayoutTiledSignsTests
{
    [Theory]
    [InlineData(16, 256)]
    [InlineData(17, 300)]
    [InlineData(33, 1408)]
    [InlineData(5, 100)]
    public void Encode_tiles_the_signs_and_Read_gives_the_same_encoding_back(int rows, int cols)
    {
        var plain = SageTestPack.Build(new SageCase("t", rows, cols, 3, 1, 4, 4, Offsets: true, Rotated: true), seed: rows + cols);
        var tiled = plain with { Flags = plain.Flags | SageFlags.TiledSigns };
        var plainPayload = SageLayout.Encode(plain);
        var tiledPayload = SageLayout.Encode(tiled);

        Assert.Equal((int)(plain.Flags | SageFlags.TiledSigns), tiledPayload.Parameter("flags"));
        Assert.Equal(plainPayload.Sections.Select(s => s.Name), tiledPayload.Sections.Select(s => s.Name));
        var expectedSigns = new byte[plainPayload.Section("signs").Length];
        SignPlanes.Tile(plainPayload.Section("signs"), expectedSigns, rows, cols);
        Assert.Equal(expectedSigns, tiledPayload.Section("signs").ToArray());
        foreach (var section in plainPayload.Sections.Where(s => s.Name != "signs"))
            Assert.Equal(section.Bytes, tiledPayload.Section(section.Name).ToArray());
        Assert.Equal(plainPayload.StoredBytes, tiledPayload.StoredBytes);
        Assert.Equal(SageLayout.StoredBytes(rows, cols, tiled.Flags, 1, 3, 4, 4), tiledPayload.StoredBytes);

        var back = SageLayout.Read(tiledPayload);
        Assert.Equal(tiled.Flags, back.Flags);
        Assert.Equal(plain.Signs, back.Signs);
        var expected = new float[rows * cols];
        var actual = new float[rows * cols];
        SageLayout.Decode(plain, expected);
        new SageLayout().Decode(tiledPayload, actual);
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void A_flag_above_TiledSigns_is_refused()
    {
        var e = SageTestPack.Build(new SageCase("t", 4, 64, 1, 0, 0, 4), seed: 3);
        var payload = SageLayout.Encode(e);
        var unknown = payload with { Parameters = new Dictionary<string, int>(payload.Parameters) { ["flags"] = 32 | 16 } };
        Assert.Contains("unknown flags 48", Assert.Throws<InvalidDataException>(() => SageLayout.Read(unknown)).Message);
        Assert.Equal(31, SageLayout.KnownFlags);
    }
}
