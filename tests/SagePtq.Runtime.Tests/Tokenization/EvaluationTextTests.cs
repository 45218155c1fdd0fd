using SagePtq.Runtime.Tokenization;

namespace SagePtq.Runtime.Tests.Tokenization;

/// <summary>Document splitting as the reference script does it: Python's text.split("\n\n"), blank parts dropped.</summary>
public class EvaluationTextTests
{
    [Theory]
    [InlineData("a\n\nb", new[] { "a", "b" })]
    [InlineData("a\nstill a\n\nb\n", new[] { "a\nstill a", "b\n" })]
    [InlineData("a\n\n\nb", new[] { "a", "\nb" })]             // three newlines: the third starts the next document
    [InlineData("a\n\n\n\nb", new[] { "a", "b" })]             // an empty part between is dropped
    [InlineData("a\n\n \t \n\nb", new[] { "a", "b" })]         // so is a whitespace-only one
    [InlineData("\n\na\n\n", new[] { "a" })]
    [InlineData("a\r\n\r\nb\r\nc", new[] { "a", "b\nc" })]     // text-mode line ends
    [InlineData("", new string[0])]
    public void Documents_are_the_non_blank_parts_between_blank_lines(string text, string[] expected) =>
        Assert.Equal(expected, EvaluationText.SplitDocuments(text));

    [Fact]
    public void Each_document_gets_bos_and_the_documents_are_concatenated_in_order()
    {
        var tokenizer = EmbeddedTokenizerTests.Embedded;
        int[] ids = EvaluationText.TokenizeDocuments(tokenizer, "First one.\n\nSecond, longer one.\n\n\n\nThird\n");
        int[] expected =
        [
            .. tokenizer.Encode("First one.", addBos: true),
            .. tokenizer.Encode("Second, longer one.", addBos: true),
            .. tokenizer.Encode("Third\n", addBos: true),
        ];
        Assert.Equal(expected, ids);
        Assert.Equal(3, ids.Count(id => id == tokenizer.BosId));
    }
}
