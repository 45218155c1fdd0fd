using SagePtq.Runtime.Packing.Layouts;

namespace SagePtq.Runtime.Packing;

/// <summary>
/// Every <see cref="ILinearLayout"/> the runtime can read, by the name a <see cref="LinearPayload.Layout"/>
/// (and a manifest's <c>layout</c> field) carries.
/// </summary>
public static class LinearLayouts
{
    /// <summary>The built-in layouts, one per format. Add each new layout here, once.</summary>
    public static IReadOnlyList<ILinearLayout> BuiltIn { get; } =
    [
        new F16Layout(),
        new UniformLayout(),
        new SageLayout(),
        new BillmLayout(),
        new PbllmLayout(),
    ];

    private static readonly Dictionary<string, ILinearLayout> ByName = BuiltIn.ToDictionary(l => l.Name, StringComparer.Ordinal);

    /// <summary>The layout called <paramref name="name"/>.</summary>
    /// <exception cref="InvalidDataException">No built-in layout has that name.</exception>
    public static ILinearLayout Get(string name) =>
        ByName.TryGetValue(name, out var layout) ? layout
        : throw new InvalidDataException($"unknown linear layout '{name}' (known: {string.Join(", ", ByName.Keys.Order(StringComparer.Ordinal))})");

    /// <summary>Decodes a payload through its layout into a new dense row-major array.</summary>
    /// <exception cref="InvalidDataException">Unknown layout or malformed payload.</exception>
    public static float[] Decode(LinearPayload payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        if (payload.Rows <= 0 || payload.Cols <= 0)
            throw new InvalidDataException($"layout '{payload.Layout}' payload has shape [{payload.Rows}, {payload.Cols}]");
        var dense = new float[checked(payload.Rows * payload.Cols)];
        Get(payload.Layout).Decode(payload, dense);
        return dense;
    }
}
