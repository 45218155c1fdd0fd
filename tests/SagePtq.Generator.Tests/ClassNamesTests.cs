using SagePtq.Generator.Parsing;

namespace SagePtq.Generator.Tests;

public sealed class ClassNamesTests
{
    [Theory]
    [InlineData("sagelm-7m", "SageLm7mModel")]
    [InlineData("llama2-7b", "Llama2Model")]
    [InlineData("llama2-13b", "Llama2_13BModel")]
    [InlineData("llama3-8b", "Llama3Model")]
    [InlineData("LLAMA2-7B", "Llama2Model")]
    [InlineData("mistral-7b-v0.1", "Mistral7bV01Model")]
    [InlineData("meta-llama/Llama-2-7b-hf", "MetaLlamaLlama27bHfModel")]
    [InlineData("tiny_story.model", "TinyStoryModel")]
    [InlineData("my-model", "MyModel")]
    [InlineData("7b-chat", "M7bChatModel")]
    [InlineData("sagelm-30m", "Sagelm30mModel")]
    public void Derives_the_class_name_from_the_id(string id, string expected)
    {
        Assert.Equal(expected, ClassNames.Derive(id));
        Assert.Null(ClassNames.CheckIdentifier(expected));
    }

    [Theory]
    [InlineData("", "it is empty")]
    [InlineData("9Lives", "not a C# identifier")]
    [InlineData("has space", "not a C# identifier")]
    [InlineData("namespace", "keyword")]
    public void Refuses_class_names_that_are_not_identifiers(string name, string problem) =>
        Assert.Contains(problem, ClassNames.CheckIdentifier(name), StringComparison.Ordinal);

    [Theory]
    [InlineData("QuickStart", true)]
    [InlineData("My.App.Models", true)]
    [InlineData("My..App", false)]
    [InlineData(".App", false)]
    [InlineData("My.class", false)]
    [InlineData("My-App", false)]
    public void Checks_namespaces_part_by_part(string ns, bool valid) =>
        Assert.Equal(valid, ClassNames.CheckNamespace(ns) is null);
}
