using System.Text;
using SagePtq.Runtime.Tokenization;

namespace SagePtq.Runtime.Tests.Tokenization;

public class Utf8AssemblerTests
{
    private static string Assemble(params byte[] bytes)
    {
        var assembler = new Utf8Assembler();
        var output = new StringBuilder();
        foreach (byte b in bytes) assembler.Add(b, output);
        assembler.Finish(output);
        return output.ToString();
    }

    [Fact]
    public void Well_formed_utf8_fed_byte_by_byte_matches_the_framework_decoder()
    {
        var random = new Random(7);
        for (int trial = 0; trial < 200; trial++)
        {
            var text = new StringBuilder();
            for (int i = 0; i < 20; i++)
            {
                int codePoint;
                do codePoint = random.Next(4) switch { 0 => random.Next(0x80), 1 => random.Next(0x80, 0x800), 2 => random.Next(0x800, 0x10000), _ => random.Next(0x10000, 0x110000) };
                while (codePoint is >= 0xD800 and <= 0xDFFF);
                text.Append(char.ConvertFromUtf32(codePoint));
            }
            byte[] bytes = Encoding.UTF8.GetBytes(text.ToString());
            Assert.Equal(Encoding.UTF8.GetString(bytes), Assemble(bytes));
        }
    }

    [Theory]
    [InlineData(new byte[] { 0xFF }, "\uFFFD")]
    [InlineData(new byte[] { 0x80, 0x41 }, "\uFFFDA")]
    [InlineData(new byte[] { 0xE6, 0x97, 0x41 }, "\uFFFD\uFFFDA")]          // truncated 3-byte sequence: one per byte
    [InlineData(new byte[] { 0xC0, 0x80 }, "\uFFFD\uFFFD")]                  // overlong
    [InlineData(new byte[] { 0xED, 0xA0, 0x80 }, "\uFFFD\uFFFD\uFFFD")]      // a surrogate
    [InlineData(new byte[] { 0xF4, 0x90, 0x80, 0x80 }, "\uFFFD\uFFFD\uFFFD\uFFFD")] // above U+10FFFF
    [InlineData(new byte[] { 0xF0, 0x9F, 0x99 }, "\uFFFD\uFFFD\uFFFD")]      // cut off at the end
    [InlineData(new byte[] { 0xE6, 0xE6, 0x97, 0xA5 }, "\uFFFD日")]          // a bad byte, then a whole character
    public void Malformed_bytes_become_one_replacement_character_each(byte[] bytes, string expected) =>
        Assert.Equal(expected, Assemble(bytes));
}
