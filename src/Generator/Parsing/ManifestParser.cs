using System.Collections.Generic;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using SagePtq.Generator.Json;
using SagePtq.Generator.Model;

namespace SagePtq.Generator.Parsing;

/// <summary>
/// Turns one manifest (docs/pack-format.md, schema version 1) into a <see cref="ModelSpec"/>, or
/// into diagnostics that name the field and point at it. Reads only what the emitted code bakes in;
/// the runtime validates the rest of the manifest against the pack when it opens it.
/// </summary>
internal sealed class ManifestParser
{
    /// <summary>The schema version this generator reads.</summary>
    public const int SupportedSchemaVersion = 1;

    /// <summary>Layouts with a CUDA kernel, and the parameters (sorted) their <c>gemv</c> template takes.</summary>
    public static readonly IReadOnlyDictionary<string, string[]> CudaLayouts = new Dictionary<string, string[]>(System.StringComparer.Ordinal)
    {
        ["f16"] = new string[0],
        ["sage"] = new[] { "flags", "groups", "salient_bits", "salient_count", "scale_mode" },
        ["uniform"] = new[] { "bits", "group_size" },
    };

    /// <summary>
    /// A rotated sage linear also records its rotation seed, which sorts into the middle of the keys:
    /// the header has a <c>gemv</c> overload for that list (the seed is used by the activation's preparation).
    /// </summary>
    private static readonly string[] RotatedSageKeys = { "flags", "groups", "rotate_seed_hi", "rotate_seed_lo", "salient_bits", "salient_count", "scale_mode" };

    // The seven linears of a decoder layer, in forward order (LayerSpec's constructor order).
    private static readonly string[] Roles =
    {
        "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
        "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj",
    };

    private readonly ManifestInput _input;
    private readonly TextLines _lines;
    private readonly List<DiagnosticInfo> _diagnostics = new();
    private bool _failed;

    private ManifestParser(ManifestInput input)
    {
        _input = input;
        _lines = new TextLines(input.Text);
    }

    /// <summary>Parses <paramref name="input"/>; never throws for bad input (only on cancellation).</summary>
    public static ParsedManifest Parse(ManifestInput input, CancellationToken cancellationToken)
    {
        var parser = new ManifestParser(input);
        var model = parser.Run(cancellationToken);
        return new ParsedManifest(parser._failed ? null : model, new EquatableArray<DiagnosticInfo>(parser._diagnostics.ToArray()));
    }

    /// <summary>Lower-case hex SHA-256 of the UTF-8 bytes of <paramref name="text"/>.</summary>
    /// <remarks>
    /// The compiler hands the generator text, not bytes. Re-encoding it as UTF-8 gives the file's
    /// bytes back exactly for what the quantizer writes (UTF-8 without a byte order mark, \n line
    /// ends), which is what the runtime hashes; a file saved with a BOM would differ, and the
    /// runtime would then refuse the pack with a clear message.
    /// </remarks>
    public static string Sha256Hex(string text)
    {
        using var sha = SHA256.Create();
        var hash = sha.ComputeHash(new UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(text));
        var builder = new StringBuilder(hash.Length * 2);
        foreach (var b in hash) builder.Append(b.ToString("x2", CultureInfo.InvariantCulture));
        return builder.ToString();
    }

    private ModelSpec? Run(CancellationToken cancellationToken)
    {
        var (className, ns) = ResolveNames();

        JsonNode root;
        try
        {
            root = JsonReader.Parse(_input.Text);
        }
        catch (JsonSyntaxException e)
        {
            var (line, column) = _lines.Position(e.Offset);
            Report("SPQ1001", e.Offset, e.Offset < _input.Text.Length ? 1 : 0,
                FileName, (line + 1).ToString(CultureInfo.InvariantCulture), (column + 1).ToString(CultureInfo.InvariantCulture), e.Problem);
            return null;
        }

        if (root is not JsonObject manifest)
        {
            Invalid(root, "(root)", "must be an object, not " + Describe(root));
            return null;
        }

        var versionNode = manifest["schemaVersion"];
        if (versionNode is null)
        {
            Invalid(manifest, "schemaVersion", "is missing");
            return null;
        }
        if (versionNode is not JsonNumber versionNumber || !versionNumber.TryGetInt64(out var version))
        {
            Invalid(versionNode, "schemaVersion", "must be an integer, not " + Describe(versionNode));
            return null;
        }
        if (version != SupportedSchemaVersion)
        {
            Report("SPQ1002", versionNode, FileName, version.ToString(CultureInfo.InvariantCulture));
            return null;
        }

        var architecture = ReadArchitecture(manifest);
        var method = RequiredObject(manifest, "method", "method");
        var methodName = method is null ? null : RequiredString(method, "name", "method.name");
        var layers = architecture is null ? null : ReadLayers(manifest, architecture, cancellationToken);

        if (_failed || architecture is null || methodName is null || layers is null || className is null) return null;
        return new ModelSpec(_input.ModelId, className, ns, _input.PackMode, _input.Path, Sha256Hex(_input.Text),
            methodName, architecture, new EquatableArray<LayerSpec>(layers));
    }

    private string FileName => System.IO.Path.GetFileName(_input.Path);

    private (string? ClassName, string? Namespace) ResolveNames()
    {
        var className = string.IsNullOrWhiteSpace(_input.ClassName) ? ClassNames.Derive(_input.ModelId) : _input.ClassName!.Trim();
        var classProblem = ClassNames.CheckIdentifier(className);
        if (classProblem is not null)
        {
            var what = string.IsNullOrWhiteSpace(_input.ClassName)
                ? $"class name (derived from the model ID '{_input.ModelId}'; set SagePtqClassName)"
                : "class name (SagePtqClassName)";
            Report("SPQ1005", 0, 0, FileName, className, what, classProblem);
            className = null;
        }
        var ns = string.IsNullOrWhiteSpace(_input.Namespace) ? null : _input.Namespace!.Trim();
        if (ns is not null && ClassNames.CheckNamespace(ns) is { } nsProblem)
        {
            Report("SPQ1005", 0, 0, FileName, ns, "namespace (SagePtqNamespace, else RootNamespace)", nsProblem);
            ns = null;
        }
        return (className, ns);
    }

    private ArchitectureSpec? ReadArchitecture(JsonObject manifest)
    {
        var node = RequiredObject(manifest, "architecture", "architecture");
        if (node is null) return null;
        int? Field(string name) => PositiveInt(node, name, "architecture." + name);
        var hidden = Field("hiddenSize");
        var intermediate = Field("intermediateSize");
        var layers = Field("numLayers");
        var heads = Field("numHeads");
        var kvHeads = Field("numKeyValueHeads");
        var headDim = Field("headDim");
        var vocab = Field("vocabSize");
        if (hidden is null || intermediate is null || layers is null || heads is null || kvHeads is null || headDim is null || vocab is null)
            return null;
        if (heads.Value % kvHeads.Value != 0)
        {
            Invalid(node["numKeyValueHeads"]!, "architecture.numKeyValueHeads", $"{kvHeads} does not divide numHeads ({heads})");
            return null;
        }
        return new ArchitectureSpec(hidden.Value, intermediate.Value, layers.Value, heads.Value, kvHeads.Value, headDim.Value, vocab.Value);
    }

    private LayerSpec[]? ReadLayers(JsonObject manifest, ArchitectureSpec architecture, CancellationToken cancellationToken)
    {
        var linearsNode = manifest["linears"];
        if (linearsNode is null)
        {
            Invalid(manifest, "linears", "is missing");
            return null;
        }
        if (linearsNode is not JsonArray linears)
        {
            Invalid(linearsNode, "linears", "must be an array, not " + Describe(linearsNode));
            return null;
        }

        var slots = new LinearSpec?[architecture.NumLayers, Roles.Length];
        var slotSource = new int[architecture.NumLayers, Roles.Length];
        for (var i = 0; i < linears.Items.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var path = $"linears[{i}]";
            if (linears.Items[i] is not JsonObject record)
            {
                Invalid(linears.Items[i], path, "must be an object, not " + Describe(linears.Items[i]));
                continue;
            }
            var linear = ReadLinear(record, path, architecture);
            if (linear is null) continue;
            var role = System.Array.IndexOf(Roles, linear.Role);
            if (slots[linear.Layer, role] is not null)
            {
                Invalid(record["name"]!, path + ".name", $"layer {linear.Layer} already has a {linear.Role} record (linears[{slotSource[linear.Layer, role]}])");
                continue;
            }
            slots[linear.Layer, role] = linear;
            slotSource[linear.Layer, role] = i;
        }

        var layers = new LayerSpec[architecture.NumLayers];
        for (var layer = 0; layer < architecture.NumLayers; layer++)
        {
            var missing = new List<string>();
            for (var role = 0; role < Roles.Length; role++)
            {
                if (slots[layer, role] is null) missing.Add(Roles[role]);
            }
            if (missing.Count > 0)
            {
                // Only worth saying when the records were absent, not when they were reported as invalid.
                if (!_failed) Invalid(linears, "linears", $"layer {layer} has no record for {string.Join(", ", missing)}");
                continue;
            }
            layers[layer] = new LayerSpec(layer, slots[layer, 0]!, slots[layer, 1]!, slots[layer, 2]!, slots[layer, 3]!,
                slots[layer, 4]!, slots[layer, 5]!, slots[layer, 6]!);
        }
        return _failed ? null : layers;
    }

    private LinearSpec? ReadLinear(JsonObject record, string path, ArchitectureSpec architecture)
    {
        var name = RequiredString(record, "name", path + ".name");
        var layerNode = record["layer"];
        if (layerNode is null)
        {
            Invalid(record, path + ".layer", "is missing");
            return null;
        }
        // Records outside the decoder layers (embedding, LM head) are the runtime's business.
        if (layerNode is JsonNull) return null;
        if (layerNode is not JsonNumber layerNumber || !layerNumber.TryGetInt64(out var layer) || layer < 0 || layer >= architecture.NumLayers)
        {
            Invalid(layerNode, path + ".layer", $"must be null or a layer index from 0 to {architecture.NumLayers - 1} (architecture.numLayers), not {Describe(layerNode)}");
            return null;
        }
        var rows = PositiveInt(record, "rows", path + ".rows");
        var cols = PositiveInt(record, "cols", path + ".cols");
        var layout = RequiredString(record, "layout", path + ".layout");
        var parameters = ReadParameters(record, path + ".parameters");
        var stats = RequiredObject(record, "stats", path + ".stats");
        var storageBits = Number(record, "storageBitsPerWeight", path + ".storageBitsPerWeight", 0, double.MaxValue);
        if (name is null || rows is null || cols is null || layout is null || parameters is null || stats is null || storageBits is null)
            return null;

        var prefix = "model.layers." + layer.ToString(CultureInfo.InvariantCulture) + ".";
        var role = name.StartsWith(prefix, System.StringComparison.Ordinal) && name.EndsWith(".weight", System.StringComparison.Ordinal)
            ? name.Substring(prefix.Length, name.Length - prefix.Length - ".weight".Length)
            : null;
        if (role is null || System.Array.IndexOf(Roles, role) < 0)
        {
            Invalid(record["name"]!, path + ".name", $"\"{name}\" is not a decoder linear of layer {layer} ({prefix}{{{string.Join("|", Roles)}}}.weight)");
            return null;
        }

        var (expectedRows, expectedCols) = ExpectedShape(role, architecture);
        if (rows != expectedRows) Invalid(record["rows"]!, path + ".rows", $"{rows} disagrees with the architecture: {role} has {expectedRows} rows");
        if (cols != expectedCols) Invalid(record["cols"]!, path + ".cols", $"{cols} disagrees with the architecture: {role} has {expectedCols} columns");

        long weights = (long)rows.Value * cols.Value;
        var groupCount = NonNegativeInt(stats, "groupCount", path + ".stats.groupCount");
        var ratio = Number(stats, "saliencyRatio", path + ".stats.saliencyRatio", 0, 1);
        var salientCount = NonNegativeLong(stats, "salientCount", path + ".stats.salientCount", weights);
        var salientBits = NonNegativeLong(stats, "salientBits", path + ".stats.salientBits", 32);
        if (groupCount is null || ratio is null || salientCount is null || salientBits is null) return null;

        if (CudaLayouts.TryGetValue(layout, out var expectedKeys))
        {
            var keys = new List<string>();
            foreach (var p in parameters) keys.Add(p.Key);
            if (!SameKeys(keys, expectedKeys) && !(layout == "sage" && SameKeys(keys, RotatedSageKeys)))
            {
                Invalid(record["parameters"]!, path + ".parameters",
                    $"the {layout} layout takes {(expectedKeys.Length == 0 ? "no parameters" : string.Join(", ", expectedKeys))}, not {(keys.Count == 0 ? "none" : string.Join(", ", keys))}");
                return null;
            }
        }
        else
        {
            Report("SPQ1004", record["layout"]!, FileName, name, layout);
        }

        return new LinearSpec(name, role, (int)layer, rows.Value, cols.Value, layout, parameters.Value, groupCount.Value,
            ratio.Value, salientCount.Value, (int)salientBits.Value, storageBits.Value);
    }

    private static (int Rows, int Cols) ExpectedShape(string role, ArchitectureSpec a) => role switch
    {
        "self_attn.q_proj" => (a.NumHeads * a.HeadDim, a.HiddenSize),
        "self_attn.k_proj" or "self_attn.v_proj" => (a.NumKeyValueHeads * a.HeadDim, a.HiddenSize),
        "self_attn.o_proj" => (a.HiddenSize, a.NumHeads * a.HeadDim),
        "mlp.gate_proj" or "mlp.up_proj" => (a.IntermediateSize, a.HiddenSize),
        _ => (a.HiddenSize, a.IntermediateSize), // mlp.down_proj
    };

    private static bool SameKeys(List<string> keys, string[] expected)
    {
        if (keys.Count != expected.Length) return false;
        for (var i = 0; i < expected.Length; i++)
        {
            if (!string.Equals(keys[i], expected[i], System.StringComparison.Ordinal)) return false;
        }
        return true;
    }

    private EquatableArray<LayoutParameter>? ReadParameters(JsonObject record, string path)
    {
        var node = RequiredObject(record, "parameters", path);
        if (node is null) return null;
        var parameters = new List<LayoutParameter>();
        var ok = true;
        foreach (var member in node.Members)
        {
            if (member.Value is JsonNumber number && number.TryGetInt64(out var value))
            {
                parameters.Add(new LayoutParameter(member.Key, value));
            }
            else
            {
                Invalid(member.Value, path + "." + member.Key, "must be an integer, not " + Describe(member.Value));
                ok = false;
            }
        }
        if (!ok) return null;
        // Ordinal key order: the order of the CUDA template arguments (the contract).
        parameters.Sort((x, y) => string.CompareOrdinal(x.Key, y.Key));
        return new EquatableArray<LayoutParameter>(parameters.ToArray());
    }

    private JsonObject? RequiredObject(JsonObject parent, string name, string path)
    {
        var node = parent[name];
        if (node is null)
        {
            Invalid(parent, path, "is missing");
            return null;
        }
        if (node is JsonObject result) return result;
        Invalid(node, path, "must be an object, not " + Describe(node));
        return null;
    }

    private string? RequiredString(JsonObject parent, string name, string path)
    {
        var node = parent[name];
        if (node is null)
        {
            Invalid(parent, path, "is missing");
            return null;
        }
        if (node is JsonString s && s.Value.Trim().Length > 0) return s.Value;
        Invalid(node, path, "must be a non-empty string, not " + Describe(node));
        return null;
    }

    private int? PositiveInt(JsonObject parent, string name, string path)
    {
        var value = Integer(parent, name, path, 1, int.MaxValue, "a positive integer");
        return value is null ? null : (int)value.Value;
    }

    private int? NonNegativeInt(JsonObject parent, string name, string path)
    {
        var value = Integer(parent, name, path, 0, int.MaxValue, "an integer ≥ 0");
        return value is null ? null : (int)value.Value;
    }

    private long? NonNegativeLong(JsonObject parent, string name, string path, long max) =>
        Integer(parent, name, path, 0, max, $"an integer from 0 to {max.ToString(CultureInfo.InvariantCulture)}");

    private long? Integer(JsonObject parent, string name, string path, long min, long max, string what)
    {
        var node = parent[name];
        if (node is null)
        {
            Invalid(parent, path, "is missing");
            return null;
        }
        if (node is JsonNumber number && number.TryGetInt64(out var value) && value >= min && value <= max) return value;
        Invalid(node, path, $"must be {what}, not {Describe(node)}");
        return null;
    }

    private double? Number(JsonObject parent, string name, string path, double min, double max)
    {
        var node = parent[name];
        if (node is null)
        {
            Invalid(parent, path, "is missing");
            return null;
        }
        if (node is JsonNumber number)
        {
            var value = number.ToDouble();
            if (value >= min && value <= max) return value;
        }
        var range = max == double.MaxValue
            ? "a number ≥ " + min.ToString(CultureInfo.InvariantCulture)
            : $"a number from {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}";
        Invalid(node, path, $"must be {range}, not {Describe(node)}");
        return null;
    }

    private static string Describe(JsonNode node) => node switch
    {
        JsonString s => "\"" + (s.Value.Length > 40 ? s.Value.Substring(0, 40) + "…" : s.Value) + "\"",
        JsonNumber n => n.Text,
        JsonBoolean b => b.Value ? "true" : "false",
        _ => node.KindDescription,
    };

    private void Invalid(JsonNode node, string path, string problem) => Report("SPQ1003", node, FileName, path, problem);

    private void Report(string id, JsonNode node, params string[] args) => Report(id, node.Start, node.End - node.Start, args);

    private void Report(string id, int start, int length, params string[] args)
    {
        if (id != "SPQ1004") _failed = true;
        var (startLine, startColumn) = _lines.Position(start);
        var (endLine, endColumn) = _lines.Position(start + length);
        _diagnostics.Add(new DiagnosticInfo(id, _input.Path, start, length, startLine, startColumn, endLine, endColumn,
            new EquatableArray<string>(args)));
    }
}
