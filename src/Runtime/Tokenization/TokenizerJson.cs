using System.Text;
using System.Text.Json;

namespace SagePtq.Runtime.Tokenization;

/// <summary>The parts of a tokenizer that tokenizer.json describes.</summary>
internal sealed record TokenizerParts(
    BpeModel Model, string?[] Pieces, TextNormalizer Normalizer, PreTokenizer PreTokenizer,
    AddedTokens AddedTokens, PieceDecoding Decoding, int BosId, int EosId);

/// <summary>
/// Reads an HF tokenizer.json with a BPE model. Every form this project supports is listed here; anything
/// else (another model type, a regex pattern, an unknown normalizer or decoder) is refused with a
/// <see cref="ModelFileException"/> that names the file and the unsupported field, rather than being
/// tokenized differently from the reference.
/// </summary>
internal static class TokenizerJson
{
    public static TokenizerParts Parse(string json, string path)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = false });
        }
        catch (JsonException e)
        {
            throw new ModelFileException(path, $"not valid JSON ({e.Message})", e);
        }
        using (document)
            return new Reader(path).Read(document.RootElement);
    }

    private sealed class Reader(string path)
    {
        private ModelFileException Fail(string problem) => new(path, problem);

        public TokenizerParts Read(JsonElement root)
        {
            if (root.ValueKind != JsonValueKind.Object) throw Fail("the top level is not a JSON object");
            if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
                throw Fail("no \"model\" object");
            var vocab = ReadVocab(model);
            var addedTokens = ReadAddedTokens(root);
            var bpe = ReadBpe(model, vocab);

            int size = Math.Max(vocab.Values.DefaultIfEmpty(-1).Max(), addedTokens.Select(t => t.Id).DefaultIfEmpty(-1).Max()) + 1;
            var pieces = new string?[size];
            foreach (var (piece, id) in vocab) pieces[id] = piece;
            foreach (var token in addedTokens)
            {
                if (pieces[token.Id] is { } existing && existing != token.Content)
                    throw Fail($"added token \"{token.Content}\" has id {token.Id}, which the vocabulary gives to \"{existing}\"");
                pieces[token.Id] = token.Content;
            }

            var normalizer = root.TryGetProperty("normalizer", out var n) && n.ValueKind != JsonValueKind.Null
                ? new TextNormalizer(ReadNormalizerSteps(n)) : TextNormalizer.Identity;
            var preTokenizer = root.TryGetProperty("pre_tokenizer", out var p) && p.ValueKind != JsonValueKind.Null
                ? ReadPreTokenizer(p) : PreTokenizer.WholeText;
            if (!root.TryGetProperty("decoder", out var d) || d.ValueKind == JsonValueKind.Null)
                throw Fail("no \"decoder\": decoding without one is not supported");
            var decoding = ReadDecoder(d);

            int bosId = ReadTemplateBos(root, vocab, addedTokens)
                ?? addedTokens.FirstOrDefault(t => t.Content == "<s>")?.Id ?? -1;
            int eosId = addedTokens.FirstOrDefault(t => t.Content == "</s>")?.Id ?? -1;
            return new TokenizerParts(bpe, pieces, normalizer, preTokenizer, new AddedTokens(addedTokens), decoding, bosId, eosId);
        }

        private Dictionary<string, int> ReadVocab(JsonElement model)
        {
            string type = model.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String
                ? t.GetString()! : model.TryGetProperty("merges", out _) ? "BPE" : "(unnamed)";
            if (type != "BPE") throw Fail($"model type \"{type}\" is not supported (only BPE)");
            if (!model.TryGetProperty("vocab", out var v) || v.ValueKind != JsonValueKind.Object)
                throw Fail("model.vocab is missing or not an object");
            var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
            var seenIds = new HashSet<int>();
            foreach (var entry in v.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out int id) || id < 0)
                    throw Fail($"model.vocab[\"{entry.Name}\"] is not a non-negative integer id");
                if (!seenIds.Add(id)) throw Fail($"model.vocab gives id {id} to more than one piece");
                vocab[entry.Name] = id;
            }
            return vocab;
        }

        private BpeModel ReadBpe(JsonElement model, Dictionary<string, int> vocab)
        {
            if (model.TryGetProperty("dropout", out var dropout) && dropout.ValueKind == JsonValueKind.Number && dropout.GetDouble() != 0)
                throw Fail("model.dropout is not supported (tokenization must be deterministic)");
            foreach (var affix in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
                if (model.TryGetProperty(affix, out var a) && a.ValueKind == JsonValueKind.String && a.GetString()!.Length > 0)
                    throw Fail($"model.{affix} is not supported");

            int unkId = -1;
            if (model.TryGetProperty("unk_token", out var unk) && unk.ValueKind == JsonValueKind.String)
            {
                if (!vocab.TryGetValue(unk.GetString()!, out unkId))
                    throw Fail($"model.unk_token \"{unk.GetString()}\" is not in the vocabulary");
            }

            if (!model.TryGetProperty("merges", out var m) || m.ValueKind != JsonValueKind.Array)
                throw Fail("model.merges is missing or not an array");
            var merges = new List<(int, int, int)>(m.GetArrayLength());
            int index = 0;
            foreach (var merge in m.EnumerateArray())
            {
                var (left, right) = ReadMergePair(merge, index);
                if (!vocab.TryGetValue(left, out int leftId)) throw Fail($"merge {index}: \"{left}\" is not in the vocabulary");
                if (!vocab.TryGetValue(right, out int rightId)) throw Fail($"merge {index}: \"{right}\" is not in the vocabulary");
                if (!vocab.TryGetValue(left + right, out int mergedId)) throw Fail($"merge {index}: \"{left + right}\" is not in the vocabulary");
                merges.Add((leftId, rightId, mergedId));
                index++;
            }
            return new BpeModel(vocab, merges, unkId, Bool(model, "fuse_unk", false), Bool(model, "byte_fallback", false),
                Bool(model, "ignore_merges", false));
        }

        private (string, string) ReadMergePair(JsonElement merge, int index)
        {
            if (merge.ValueKind == JsonValueKind.String)
            {
                var parts = merge.GetString()!.Split(' ');
                if (parts.Length == 2) return (parts[0], parts[1]);
            }
            else if (merge.ValueKind == JsonValueKind.Array && merge.GetArrayLength() == 2
                     && merge[0].ValueKind == JsonValueKind.String && merge[1].ValueKind == JsonValueKind.String)
            {
                return (merge[0].GetString()!, merge[1].GetString()!);
            }
            throw Fail($"merge {index} is neither \"a b\" nor [\"a\", \"b\"]");
        }

        private List<AddedToken> ReadAddedTokens(JsonElement root)
        {
            var tokens = new List<AddedToken>();
            if (!root.TryGetProperty("added_tokens", out var list) || list.ValueKind == JsonValueKind.Null) return tokens;
            if (list.ValueKind != JsonValueKind.Array) throw Fail("added_tokens is not an array");
            foreach (var t in list.EnumerateArray())
            {
                if (t.ValueKind != JsonValueKind.Object || !t.TryGetProperty("id", out var idElement)
                    || !TryInt(idElement, out int id) || id < 0 || !t.TryGetProperty("content", out var c) || c.ValueKind != JsonValueKind.String)
                    throw Fail("an added_tokens entry lacks a non-negative \"id\" or a string \"content\"");
                string content = c.GetString()!;
                bool special = Bool(t, "special", false);
                if (Bool(t, "single_word", false)) throw Fail($"added token \"{content}\": single_word is not supported");
                if (!special && Bool(t, "normalized", false))
                    throw Fail($"added token \"{content}\": normalized (matched after normalization) is not supported");
                tokens.Add(new AddedToken(id, content, special, Bool(t, "lstrip", false), Bool(t, "rstrip", false)));
            }
            return tokens;
        }

        private List<(string, Func<string, string>)> ReadNormalizerSteps(JsonElement n)
        {
            string type = TypeOf(n, "normalizer");
            switch (type)
            {
                case "Sequence":
                    if (!n.TryGetProperty("normalizers", out var list) || list.ValueKind != JsonValueKind.Array)
                        throw Fail("normalizer Sequence has no \"normalizers\" array");
                    return list.EnumerateArray().SelectMany(ReadNormalizerSteps).ToList();
                case "Prepend":
                    return [TextNormalizer.Prepend(String(n, "prepend", "normalizer Prepend"))];
                case "Replace":
                    return [TextNormalizer.Replace(LiteralPattern(n, "normalizer Replace"), String(n, "content", "normalizer Replace"))];
                case "NFC": return [TextNormalizer.UnicodeForm(type, NormalizationForm.FormC)];
                case "NFD": return [TextNormalizer.UnicodeForm(type, NormalizationForm.FormD)];
                case "NFKC": return [TextNormalizer.UnicodeForm(type, NormalizationForm.FormKC)];
                case "NFKD": return [TextNormalizer.UnicodeForm(type, NormalizationForm.FormKD)];
                default: throw Fail($"normalizer type \"{type}\" is not supported");
            }
        }

        private PreTokenizer ReadPreTokenizer(JsonElement p)
        {
            string type = TypeOf(p, "pre_tokenizer");
            if (type == "Sequence" && p.TryGetProperty("pretokenizers", out var list) && list.ValueKind == JsonValueKind.Array
                && list.GetArrayLength() == 1)
                return ReadPreTokenizer(list[0]);
            if (type != "Metaspace") throw Fail($"pre_tokenizer type \"{type}\" is not supported");
            char replacement = MetaspaceReplacement(p, "pre_tokenizer Metaspace");
            bool split = Bool(p, "split", true);
            return PreTokenizer.Metaspace(replacement, ReadPrependScheme(p, "pre_tokenizer Metaspace"), split);
        }

        private PieceDecoding ReadDecoder(JsonElement d)
        {
            var steps = TypeOf(d, "decoder") == "Sequence"
                ? (d.TryGetProperty("decoders", out var list) && list.ValueKind == JsonValueKind.Array
                    ? list.EnumerateArray().ToList() : throw Fail("decoder Sequence has no \"decoders\" array"))
                : [d];
            var replacements = new List<(string, string)>();
            bool byteFallback = false, fused = false, firstPieceSpace = false;
            char stripChar = ' ';
            int stripCount = 0;
            foreach (var step in steps)
            {
                string type = TypeOf(step, "decoder");
                switch (type)
                {
                    case "Replace":
                        // Replacing after ByteFallback would also rewrite text that came from bytes.
                        if (byteFallback) throw Fail("decoder Replace after ByteFallback is not supported");
                        replacements.Add((LiteralPattern(step, "decoder Replace"), String(step, "content", "decoder Replace")));
                        break;
                    case "ByteFallback":
                        byteFallback = true;
                        break;
                    case "Fuse":
                        fused = true;
                        break;
                    case "Strip":
                        // Before Fuse, Strip would act on every piece; after it, on the start of the text.
                        if (!fused) throw Fail("decoder Strip before Fuse is not supported");
                        if (Int(step, "stop") != 0) throw Fail("decoder Strip with stop > 0 is not supported");
                        string content = String(step, "content", "decoder Strip");
                        if (content.Length != 1) throw Fail("decoder Strip content must be one character");
                        stripChar = content[0];
                        stripCount = Int(step, "start");
                        break;
                    case "Metaspace":
                        replacements.Add((MetaspaceReplacement(step, "decoder Metaspace").ToString(), " "));
                        firstPieceSpace = ReadPrependScheme(step, "decoder Metaspace") != PrependScheme.Never;
                        break;
                    default:
                        throw Fail($"decoder type \"{type}\" is not supported");
                }
            }
            return new PieceDecoding(replacements, byteFallback, stripChar, stripCount, firstPieceSpace);
        }

        /// <summary>The BOS id from a TemplateProcessing post-processor whose single template starts with a special token.</summary>
        private int? ReadTemplateBos(JsonElement root, Dictionary<string, int> vocab, List<AddedToken> added)
        {
            if (!root.TryGetProperty("post_processor", out var post) || post.ValueKind != JsonValueKind.Object
                || !post.TryGetProperty("type", out var type) || type.GetString() != "TemplateProcessing"
                || !post.TryGetProperty("single", out var single) || single.ValueKind != JsonValueKind.Array
                || single.GetArrayLength() == 0 || !single[0].TryGetProperty("SpecialToken", out var first)
                || !first.TryGetProperty("id", out var nameElement) || nameElement.ValueKind != JsonValueKind.String)
                return null;
            string name = nameElement.GetString()!;
            if (post.TryGetProperty("special_tokens", out var specials) && specials.ValueKind == JsonValueKind.Object
                && specials.TryGetProperty(name, out var entry) && entry.TryGetProperty("ids", out var ids)
                && ids.ValueKind == JsonValueKind.Array && ids.GetArrayLength() == 1 && TryInt(ids[0], out int id))
                return id;
            if (added.FirstOrDefault(t => t.Content == name) is { } token) return token.Id;
            return vocab.TryGetValue(name, out int vocabId) ? vocabId : throw Fail($"post_processor names special token \"{name}\", which has no id");
        }

        private PrependScheme ReadPrependScheme(JsonElement e, string what)
        {
            if (e.TryGetProperty("prepend_scheme", out var scheme) && scheme.ValueKind == JsonValueKind.String)
            {
                return scheme.GetString() switch
                {
                    "first" => PrependScheme.First,
                    "always" => PrependScheme.Always,
                    "never" => PrependScheme.Never,
                    var other => throw Fail($"{what}: prepend_scheme \"{other}\" is not first/always/never"),
                };
            }
            // The older form: add_prefix_space (true meant always).
            return Bool(e, "add_prefix_space", true) ? PrependScheme.Always : PrependScheme.Never;
        }

        private char MetaspaceReplacement(JsonElement e, string what)
        {
            string replacement = e.TryGetProperty("replacement", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString()! : "\u2581";
            if (replacement.Length != 1) throw Fail($"{what}: replacement must be one character");
            return replacement[0];
        }

        private string LiteralPattern(JsonElement e, string what)
        {
            if (!e.TryGetProperty("pattern", out var pattern) || pattern.ValueKind != JsonValueKind.Object)
                throw Fail($"{what} has no \"pattern\" object");
            if (pattern.TryGetProperty("String", out var s) && s.ValueKind == JsonValueKind.String && s.GetString()!.Length > 0)
                return s.GetString()!;
            if (pattern.TryGetProperty("Regex", out _)) throw Fail($"{what}: a Regex pattern is not supported");
            throw Fail($"{what}: the pattern is not a non-empty String");
        }

        private string TypeOf(JsonElement e, string what)
        {
            if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty("type", out var t) || t.ValueKind != JsonValueKind.String)
                throw Fail($"a {what} entry has no \"type\"");
            return t.GetString()!;
        }

        private string String(JsonElement e, string name, string what) =>
            e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : throw Fail($"{what} has no string \"{name}\"");

        private int Int(JsonElement e, string name) =>
            e.TryGetProperty(name, out var v) && TryInt(v, out int i) && i >= 0 ? i : throw Fail($"\"{name}\" is missing or not a non-negative integer");

        private static bool TryInt(JsonElement e, out int value)
        {
            value = 0;
            return e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out value);
        }

        private bool Bool(JsonElement e, string name, bool fallback)
        {
            if (!e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
            return v.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw Fail($"\"{name}\" is not true or false"),
            };
        }
    }
}
