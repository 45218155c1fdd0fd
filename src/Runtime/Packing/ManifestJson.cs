using System.Globalization;
using System.Text.Json;
using SagePtq.Runtime.Checkpoints;

namespace SagePtq.Runtime.Packing;

/// <summary>
/// Writes and reads <c>model.manifest.json</c>. Writing is deterministic: camelCase names in a fixed
/// order, indented, dictionaries sorted by key, numbers in their shortest round-trip form, so equal
/// manifests give equal bytes. Reading checks every field and every size relation and reports the
/// first problem as a <see cref="ModelFileException"/> naming the field.
/// </summary>
public static class ManifestJson
{
    private const string ChecksumPrefix = "xxh64:";

    /// <summary>The manifest as UTF-8 JSON bytes (no byte-order mark, LF line ends, final newline).</summary>
    public static byte[] Serialize(PackManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, NewLine = "\n" }))
        {
            w.WriteStartObject();
            w.WriteNumber("schemaVersion", manifest.SchemaVersion);
            WriteArchitecture(w, manifest.Architecture);
            w.WriteStartObject("tokenizer");
            w.WriteString("tensor", manifest.TokenizerTensor);
            w.WriteEndObject();
            w.WriteStartObject("method");
            w.WriteString("name", manifest.Method);
            w.WriteStartObject("options");
            foreach (var (key, value) in manifest.MethodOptions.OrderBy(o => o.Key, StringComparer.Ordinal)) w.WriteString(key, value);
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteStartObject("pack");
            w.WriteString("fileName", manifest.Pack.FileName);
            w.WriteNumber("fileBytes", manifest.Pack.FileBytes);
            w.WriteNumber("payloadBytes", manifest.Pack.PayloadBytes);
            w.WriteString("payloadChecksum", FormatChecksum(manifest.Pack.PayloadChecksum));
            w.WriteEndObject();
            w.WriteStartArray("linears");
            foreach (var linear in manifest.Linears) WriteLinear(w, linear);
            w.WriteEndArray();
            w.WriteStartArray("tensors");
            foreach (var tensor in manifest.Tensors) WriteTensor(w, tensor);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        return buffer.ToArray();
    }

    /// <summary>The checksum as the manifest writes it: <c>xxh64:</c> and 16 lower-case hex digits.</summary>
    public static string FormatChecksum(ulong checksum) => ChecksumPrefix + checksum.ToString("x16", CultureInfo.InvariantCulture);

    private static void WriteArchitecture(Utf8JsonWriter w, ModelConfig c)
    {
        w.WriteStartObject("architecture");
        w.WriteString("modelType", "llama");
        w.WriteNumber("hiddenSize", c.HiddenSize);
        w.WriteNumber("intermediateSize", c.IntermediateSize);
        w.WriteNumber("numLayers", c.NumLayers);
        w.WriteNumber("numHeads", c.NumHeads);
        w.WriteNumber("numKeyValueHeads", c.NumKeyValueHeads);
        w.WriteNumber("headDim", c.HeadDim);
        w.WriteNumber("vocabSize", c.VocabSize);
        w.WriteNumber("maxPositionEmbeddings", c.MaxPositionEmbeddings);
        w.WriteNumber("rmsNormEps", c.RmsNormEps);
        w.WriteNumber("ropeTheta", c.RopeTheta);
        w.WriteBoolean("tieWordEmbeddings", c.TieWordEmbeddings);
        w.WriteNumber("bosTokenId", c.BosTokenId);
        w.WriteStartArray("eosTokenIds");
        foreach (int id in c.EosTokenIds) w.WriteNumberValue(id);
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteLinear(Utf8JsonWriter w, LinearRecord l)
    {
        w.WriteStartObject();
        w.WriteString("name", l.Name);
        if (l.Layer is int layer) w.WriteNumber("layer", layer); else w.WriteNull("layer");
        w.WriteNumber("rows", l.Rows);
        w.WriteNumber("cols", l.Cols);
        w.WriteString("layout", l.Layout);
        w.WriteStartObject("parameters");
        foreach (var (key, value) in l.Parameters.OrderBy(p => p.Key, StringComparer.Ordinal)) w.WriteNumber(key, value);
        w.WriteEndObject();
        w.WriteStartArray("sections");
        foreach (var s in l.Sections)
        {
            w.WriteStartObject();
            w.WriteString("name", s.Name);
            w.WriteNumber("offset", s.Offset);
            w.WriteNumber("length", s.Length);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartObject("stats");
        w.WriteNumber("groupCount", l.Stats.GroupCount);
        w.WriteNumber("saliencyRatio", l.Stats.SaliencyRatio);
        w.WriteNumber("salientCount", l.Stats.SalientCount);
        w.WriteNumber("salientBits", l.Stats.SalientBits);
        w.WriteEndObject();
        w.WriteNumber("storedBytes", l.StoredBytes);
        w.WriteNumber("storageBitsPerWeight", l.StorageBitsPerWeight);
        w.WriteNumber("paperBitsPerWeight", l.PaperBitsPerWeight);
        w.WriteEndObject();
    }

    private static void WriteTensor(Utf8JsonWriter w, TensorRecord t)
    {
        w.WriteStartObject();
        w.WriteString("name", t.Name);
        w.WriteString("dtype", PackFormat.DataTypeName(t.DataType));
        w.WriteStartArray("shape");
        foreach (long d in t.Shape) w.WriteNumberValue(d);
        w.WriteEndArray();
        w.WriteNumber("offset", t.Offset);
        w.WriteNumber("length", t.Length);
        w.WriteEndObject();
    }

    /// <summary>Reads and validates a manifest.</summary>
    /// <param name="path">The manifest's path, used in error messages.</param>
    /// <exception cref="ModelFileException">Invalid JSON, unknown schema version, a missing or malformed field, or sizes that do not agree.</exception>
    public static PackManifest Parse(ReadOnlySpan<byte> json, string path)
    {
        JsonElement root;
        try
        {
            using var doc = JsonDocument.Parse(json.ToArray());
            root = doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new ModelFileException(path, $"is not valid JSON ({e.Message})", e);
        }
        var top = new Field(root, "", path).AsObject();

        int schema = top.Int("schemaVersion");
        if (schema > PackManifest.CurrentSchemaVersion)
            throw new ModelFileException(path, $"schema version {schema} is newer than this runtime reads ({PackManifest.CurrentSchemaVersion}); update SagePtq or re-quantize");
        if (schema != PackManifest.CurrentSchemaVersion)
            throw new ModelFileException(path, $"schema version {schema} is not supported (this runtime reads {PackManifest.CurrentSchemaVersion})");

        var config = ReadArchitecture(top.Object("architecture"), path);
        string tokenizer = top.Object("tokenizer").String("tensor");
        var method = top.Object("method");
        var options = method.Object("options").Properties().ToDictionary(p => p.Name, p => p.Value.String());

        var pack = top.Object("pack");
        var packRecord = new PackFileRecord(pack.String("fileName"), pack.Long("fileBytes"), pack.Long("payloadBytes"), ParseChecksum(pack.Get("payloadChecksum")));

        var linears = top.Array("linears").Select(ReadLinear).ToList();
        var tensors = top.Array("tensors").Select(ReadTensor).ToList();
        var manifest = new PackManifest
        {
            SchemaVersion = schema,
            Architecture = config,
            TokenizerTensor = tokenizer,
            Method = method.String("name"),
            MethodOptions = options,
            Pack = packRecord,
            Linears = linears,
            Tensors = tensors,
        };
        Validate(manifest, path);
        return manifest;
    }

    private static ModelConfig ReadArchitecture(Field a, string path)
    {
        string modelType = a.String("modelType");
        if (modelType != "llama")
            throw new ModelFileException(path, $"architecture.modelType '{modelType}' is not supported (only \"llama\")");
        var config = new ModelConfig
        {
            HiddenSize = a.PositiveInt("hiddenSize"),
            IntermediateSize = a.PositiveInt("intermediateSize"),
            NumLayers = a.PositiveInt("numLayers"),
            NumHeads = a.PositiveInt("numHeads"),
            NumKeyValueHeads = a.PositiveInt("numKeyValueHeads"),
            HeadDim = a.PositiveInt("headDim"),
            VocabSize = a.PositiveInt("vocabSize"),
            MaxPositionEmbeddings = a.PositiveInt("maxPositionEmbeddings"),
            RmsNormEps = (float)a.Double("rmsNormEps"),
            RopeTheta = (float)a.Double("ropeTheta"),
            TieWordEmbeddings = a.Bool("tieWordEmbeddings"),
            BosTokenId = a.Int("bosTokenId"),
            EosTokenIds = a.Array("eosTokenIds").Select(e => e.Int()).ToArray(),
        };
        if (config.NumHeads % config.NumKeyValueHeads != 0)
            throw new ModelFileException(path, $"architecture: numHeads {config.NumHeads} is not a multiple of numKeyValueHeads {config.NumKeyValueHeads}");
        if (config.HeadDim % 2 != 0)
            throw new ModelFileException(path, $"architecture: headDim {config.HeadDim} must be even for rotary embeddings");
        if (!(config.RmsNormEps > 0) || !(config.RopeTheta > 0) || !float.IsFinite(config.RopeTheta))
            throw new ModelFileException(path, "architecture: rmsNormEps and ropeTheta must be positive numbers");
        return config;
    }

    private static LinearRecord ReadLinear(Field f)
    {
        var o = f.AsObject();
        var stats = o.Object("stats");
        var record = new LinearRecord(
            o.String("name"),
            o.OptionalInt("layer"),
            o.PositiveInt("rows"),
            o.PositiveInt("cols"),
            o.String("layout"),
            o.Object("parameters").Properties().ToDictionary(p => p.Name, p => p.Value.Int()),
            o.Array("sections").Select(s => s.AsObject()).Select(s => new SectionRecord(s.String("name"), s.Long("offset"), s.Long("length"))).ToList(),
            new LinearStats(stats.Int("groupCount"), stats.Double("saliencyRatio"), stats.Long("salientCount"), stats.Int("salientBits"), o.Double("paperBitsPerWeight")));

        long storedBytes = o.Long("storedBytes");
        if (storedBytes != record.StoredBytes)
            throw f.Error($"storedBytes is {storedBytes} but its sections and parameters add up to {record.StoredBytes}");
        double storageBits = o.Double("storageBitsPerWeight");
        if (Math.Abs(storageBits - record.StorageBitsPerWeight) > 1e-9 * Math.Max(1, record.StorageBitsPerWeight))
            throw f.Error($"storageBitsPerWeight is {storageBits} but storedBytes over rows × cols gives {record.StorageBitsPerWeight}");
        return record;
    }

    private static TensorRecord ReadTensor(Field f)
    {
        var o = f.AsObject();
        string dtype = o.String("dtype");
        if (!PackFormat.TryParseDataType(dtype, out var type)) throw f.Error($"dtype '{dtype}' is unknown (bytes, f16, f32)");
        return new TensorRecord(o.String("name"), type, o.Array("shape").Select(d => d.Long()).ToArray(), o.Long("offset"), o.Long("length"));
    }

    /// <summary>The relations between fields: unique names, sizes that agree, offsets inside the pack.</summary>
    private static void Validate(PackManifest m, string path)
    {
        ModelFileException Bad(string problem) => new(path, problem);
        if (m.Pack.FileName.Length == 0 || m.Pack.FileName.IndexOfAny(['/', '\\']) >= 0 || m.Pack.FileName.Contains(".."))
            throw Bad($"pack.fileName '{m.Pack.FileName}' is not a plain file name");
        if (m.Pack.PayloadBytes < 0 || m.Pack.PayloadBytes % PackFormat.Alignment != 0 || m.Pack.FileBytes < PackFormat.HeaderBytes + m.Pack.PayloadBytes)
            throw Bad($"pack sizes are inconsistent: fileBytes {m.Pack.FileBytes}, payloadBytes {m.Pack.PayloadBytes}");
        long payloadEnd = PackFormat.HeaderBytes + m.Pack.PayloadBytes;
        void CheckRange(string what, long offset, long length)
        {
            if (offset % PackFormat.Alignment != 0 || offset < PackFormat.HeaderBytes || length < 0 || offset > payloadEnd || length > payloadEnd - offset)
                throw Bad($"{what}: bytes {offset}+{length} are not an aligned range inside the payload region {PackFormat.HeaderBytes}+{m.Pack.PayloadBytes}");
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < m.Linears.Count; i++)
        {
            var l = m.Linears[i];
            string where = $"linears[{i}] ({l.Name})";
            if (l.Name.Length == 0 || !names.Add(l.Name)) throw Bad($"{where}: name is empty or repeated");
            if (l.Layout.Length == 0) throw Bad($"{where}: layout is empty");
            if (l.Layer is int layer && (layer < 0 || layer >= m.Architecture.NumLayers))
                throw Bad($"{where}: layer {layer} is outside 0..{m.Architecture.NumLayers - 1}");
            var sectionNames = new HashSet<string>(StringComparer.Ordinal);
            foreach (var s in l.Sections)
            {
                if (s.Name.Length == 0 || !sectionNames.Add(s.Name)) throw Bad($"{where}: section name '{s.Name}' is empty or repeated");
                CheckRange($"{where} section {s.Name}", s.Offset, s.Length);
            }
            var st = l.Stats;
            if (st.GroupCount < 1 || !(st.SaliencyRatio >= 0 && st.SaliencyRatio <= 1) || st.SalientCount < 0 || st.SalientCount > l.WeightCount
                || st.SalientBits < 0 || !double.IsFinite(st.PaperBitsPerWeight) || st.PaperBitsPerWeight < 0)
                throw Bad($"{where}: stats are out of range (groupCount {st.GroupCount}, saliencyRatio {st.SaliencyRatio}, salientCount {st.SalientCount}, salientBits {st.SalientBits}, paperBitsPerWeight {st.PaperBitsPerWeight})");
        }
        for (int i = 0; i < m.Tensors.Count; i++)
        {
            var t = m.Tensors[i];
            string where = $"tensors[{i}] ({t.Name})";
            if (t.Name.Length == 0 || !names.Add(t.Name)) throw Bad($"{where}: name is empty or repeated");
            if (t.Shape.Count == 0 || t.Shape.Any(d => d <= 0)) throw Bad($"{where}: shape [{string.Join(", ", t.Shape)}] must have positive dimensions");
            long expected = t.ElementCount * PackFormat.ElementBytes(t.DataType);
            if (t.Length != expected)
                throw Bad($"{where}: length {t.Length} does not match shape [{string.Join(", ", t.Shape)}] of {PackFormat.DataTypeName(t.DataType)} ({expected} bytes)");
            CheckRange(where, t.Offset, t.Length);
        }
        var tokenizer = m.FindTensor(m.TokenizerTensor);
        if (tokenizer is null || tokenizer.DataType != PackDataType.Bytes)
            throw Bad($"tokenizer.tensor '{m.TokenizerTensor}' is not a bytes tensor of the manifest");
    }

    private static ulong ParseChecksum(Field f)
    {
        string text = f.String();
        if (!text.StartsWith(ChecksumPrefix, StringComparison.Ordinal) || text.Length != ChecksumPrefix.Length + 16
            || !ulong.TryParse(text.AsSpan(ChecksumPrefix.Length), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong value))
            throw f.Error($"'{text}' is not of the form xxh64:<16 hex digits>");
        return value;
    }

    /// <summary>One JSON value with its dotted path, for typed reads whose errors name the field.</summary>
    private readonly struct Field(JsonElement element, string name, string file)
    {
        public ModelFileException Error(string problem) => new(file, $"{(name.Length == 0 ? "manifest" : name)}: {problem}");

        public Field AsObject() => element.ValueKind == JsonValueKind.Object ? this : throw Error($"must be an object, not {Kind}");

        public Field Get(string child)
        {
            string childName = name.Length == 0 ? child : $"{name}.{child}";
            return element.TryGetProperty(child, out var value) && value.ValueKind != JsonValueKind.Null
                ? new Field(value, childName, file)
                : throw new ModelFileException(file, $"required field '{childName}' is missing");
        }

        public int? OptionalInt(string child) =>
            element.TryGetProperty(child, out var value) && value.ValueKind != JsonValueKind.Null ? Get(child).Int() : null;

        public Field Object(string child) => Get(child).AsObject();
        public IEnumerable<Field> Array(string child)
        {
            var f = Get(child);
            if (f.Element.ValueKind != JsonValueKind.Array) throw f.Error($"must be an array, not {f.Kind}");
            string arrayName = f.Name, fileName = file;
            return f.Element.EnumerateArray().Select((e, i) => new Field(e, $"{arrayName}[{i}]", fileName)).ToList();
        }

        public IEnumerable<(string Name, Field Value)> Properties()
        {
            string parent = name, fileName = file;
            return element.EnumerateObject().Select(p => (p.Name, new Field(p.Value, $"{parent}.{p.Name}", fileName))).ToList();
        }

        public string String(string child) => Get(child).String();
        public int Int(string child) => Get(child).Int();
        public int PositiveInt(string child)
        {
            var f = Get(child);
            int value = f.Int();
            return value > 0 ? value : throw f.Error($"must be positive, not {value}");
        }
        public long Long(string child) => Get(child).Long();
        public double Double(string child) => Get(child).Double();
        public bool Bool(string child)
        {
            var f = Get(child);
            return f.Element.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw f.Error($"must be true or false, not {f.Kind}"),
            };
        }

        public string String() => element.ValueKind == JsonValueKind.String ? element.GetString()! : throw Error($"must be a string, not {Kind}");
        public int Int() => element.ValueKind == JsonValueKind.Number && element.TryGetInt32(out int v) ? v : throw Error($"must be an integer, not {Kind}");
        public long Long() => element.ValueKind == JsonValueKind.Number && element.TryGetInt64(out long v) ? v : throw Error($"must be an integer, not {Kind}");
        public double Double() => element.ValueKind == JsonValueKind.Number ? element.GetDouble() : throw Error($"must be a number, not {Kind}");

        private JsonElement Element => element;
        private string Name => name;
        private string Kind => element.ValueKind == JsonValueKind.Undefined ? "nothing" : element.GetRawText();
    }
}
