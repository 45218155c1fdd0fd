using System.CommandLine;
using SagePtq.Runtime.Packing;

namespace SagePtq.Quantizer.Cli;

/// <summary>
/// <c>sageptq inspect</c>: every quantized linear's record and the bit accounting of DESIGN.md §3:
/// storage bits (every byte the linear takes in the pack), the method's paper-style bits, K and
/// the saliency ratio, then the tensors kept apart and the whole pack against the FP16 checkpoint.
/// </summary>
internal static class InspectCommand
{
    public static Command Create(CliContext context)
    {
        var pack = new Option<string>("--pack") { Description = "A pack folder written by 'sageptq quantize'.", Required = true };
        var json = CliOptions.Json();
        var command = new Command("inspect", "Per-layer records and honest bit accounting of a pack.") { pack, json };
        command.SetAction(parse =>
        {
            using var packed = PackedModel.Open(parse.GetValue(pack)!);
            var manifest = packed.Manifest;
            var report = ModelBitReport.FromManifest(manifest);
            var linears = manifest.Linears.Where(l => l.Layer is not null).ToList();

            if (parse.GetValue(json))
            {
                CliOptions.WriteJson(context.Output, new
                {
                    method = manifest.Method,
                    options = manifest.MethodOptions,
                    linears = linears.Select(l => new
                    {
                        name = l.Name, layer = l.Layer, rows = l.Rows, cols = l.Cols, layout = l.Layout,
                        groups = l.Stats.GroupCount, saliencyRatio = l.Stats.SaliencyRatio, salientCount = l.Stats.SalientCount,
                        salientBits = l.Stats.SalientBits, storedBytes = l.StoredBytes,
                        storageBitsPerWeight = l.StorageBitsPerWeight, paperBitsPerWeight = l.PaperBitsPerWeight,
                    }),
                    others = report.Others.Select(o => new
                    {
                        name = o.Name, kind = o.Kind, storage = o.Storage, elements = o.Elements, storedBytes = o.StoredBytes,
                        storageBitsPerElement = o.StorageBitsPerElement,
                    }),
                    storageBitsPerWeight = report.StorageBitsPerWeight,
                    paperBitsPerWeight = report.PaperBitsPerWeight,
                    quantizedWeights = report.QuantizedWeightCount,
                    quantizedStoredBytes = report.QuantizedStoredBytes,
                    packBytes = report.PackBytes,
                    fp16CheckpointBytes = report.Fp16CheckpointBytes,
                    packToFp16 = report.PackToFp16Ratio,
                });
                return SagePtqCli.Success;
            }

            var o = context.Output;
            o.WriteLine($"method {manifest.Method}  {string.Join("  ", manifest.MethodOptions.Select(p => $"{p.Key}={p.Value}"))}");
            o.WriteLine();
            o.WriteLine($"{"linear",-32} {"shape",-11} {"layout",-8} {"K",2} {"salient",16} {"storage",8} {"paper",7}");
            foreach (var l in linears)
            {
                string name = l.Name.Replace("model.layers.", "").Replace(".weight", "");
                string salient = l.Stats.SalientCount == 0 ? "-" : $"{l.Stats.SaliencyRatio:P2} @{l.Stats.SalientBits}b";
                o.WriteLine($"{name,-32} {$"{l.Rows}x{l.Cols}",-11} {l.Layout,-8} {l.Stats.GroupCount,2} {salient,16} {l.StorageBitsPerWeight,8:F4} {l.PaperBitsPerWeight,7:F4}");
            }
            o.WriteLine();
            o.WriteLine($"quantized linears: {report.QuantizedWeightCount:N0} weights in {report.QuantizedStoredBytes:N0} bytes = " +
                $"{report.StorageBitsPerWeight:F4} storage bits/weight (paper-style {report.PaperBitsPerWeight:F4})");
            foreach (var group in report.Others.GroupBy(x => x.Kind))
            {
                string members = group.Count() > 3 ? $"{group.Count()} tensors" : string.Join(", ", group.Select(x => x.Name));
                var storages = group.Select(x => x.Storage).Distinct().ToList();
                // Bits per element say nothing for the tokenizer's bytes; for weights they are the figure to compare.
                string bits = group.Key == "tokenizer" || storages.Count != 1 ? ""
                    : $", {storages[0]}, {8.0 * group.Sum(x => x.StoredBytes) / group.Sum(x => x.Elements):F4} storage bits/weight";
                o.WriteLine($"{group.Key}: {group.Sum(x => x.StoredBytes):N0} bytes{bits} ({members})");
            }
            o.WriteLine($"pack {report.PackBytes:N0} bytes = {report.PackToFp16Ratio:P1} of the FP16 checkpoint ({report.Fp16CheckpointBytes:N0} bytes)");
            return SagePtqCli.Success;
        });
        return command;
    }
}
