using System.Text;
using SagePtq.Runtime.Packing;
using Xunit;

namespace SagePtq.Runtime.Tests.Packing;

public sealed class Xxh64Tests
{
    private const ulong Prime32 = 2654435761UL;

    /// <summary>The sanity buffer of xxHash's own self-test (cli/xsum_sanity_check.c).</summary>
    private static byte[] SanityBuffer(int length)
    {
        var buffer = new byte[length];
        ulong generator = Prime32;
        for (int i = 0; i < length; i++)
        {
            buffer[i] = (byte)(generator >> 56);
            generator *= 11400714785074694797UL;
        }
        return buffer;
    }

    [Theory]
    [InlineData(0, 0UL, 0xEF46DB3751D8E999UL)]
    [InlineData(0, Prime32, 0xAC75FDA2929B17EFUL)]
    [InlineData(1, 0UL, 0xE934A84ADB052768UL)]
    [InlineData(1, Prime32, 0x5014607643A9B4C3UL)]
    [InlineData(4, 0UL, 0x9136A0DCA57457EEUL)]
    [InlineData(14, 0UL, 0x8282DCC4994E35C8UL)]
    [InlineData(14, Prime32, 0xC3BD6BF63DEB6DF0UL)]
    [InlineData(222, 0UL, 0xB641AE8CB691C174UL)]
    [InlineData(222, Prime32, 0x20CB8AB7AE10C14AUL)]
    public void MatchesPublishedSanityVectors(int length, ulong seed, ulong expected) =>
        Assert.Equal(expected, Xxh64.Hash(SanityBuffer(length), seed));

    [Theory]
    [InlineData("a", 0xD24EC4F1A98C6E5BUL)]
    [InlineData("abc", 0x44BC2CF5AD770999UL)]
    [InlineData("Nobody inspects the spammish repetition", 0xFBCEA83C8A378BF1UL)]
    public void MatchesPublishedStringVectors(string text, ulong expected) =>
        Assert.Equal(expected, Xxh64.Hash(Encoding.ASCII.GetBytes(text)));

    [Fact]
    public void StreamingInAnyPiecesEqualsOneCall()
    {
        var data = SanityBuffer(1000);
        ulong whole = Xxh64.Hash(data, 42);
        var random = new Random(3);
        for (int trial = 0; trial < 50; trial++)
        {
            var hasher = new Xxh64(42);
            int at = 0;
            while (at < data.Length)
            {
                int take = Math.Min(random.Next(0, 70), data.Length - at);
                hasher.Append(data.AsSpan(at, take));
                at += take;
            }
            Assert.Equal(whole, hasher.GetCurrentHash());
        }
    }
}
