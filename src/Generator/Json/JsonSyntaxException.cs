using System;

namespace SagePtq.Generator.Json;

/// <summary>The manifest text is not well-formed JSON; <see cref="Offset"/> is where reading stopped.</summary>
internal sealed class JsonSyntaxException : Exception
{
    public JsonSyntaxException(string problem, int offset) : base(problem)
    {
        Problem = problem;
        Offset = offset;
    }

    /// <summary>What is wrong, without the position ("expected ',' or '}' after an object member").</summary>
    public string Problem { get; }

    /// <summary>Offset of the offending character in the text (the text's length at an unexpected end).</summary>
    public int Offset { get; }
}
