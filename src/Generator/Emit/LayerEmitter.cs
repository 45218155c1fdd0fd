using SagePtq.Generator.Model;

namespace SagePtq.Generator.Emit;

/// <summary>
/// Emits <c>{Class}.Layer{NN}.g.cs</c>: one decoder layer as a nested static class, with a
/// <c>LinearPlan</c> constant per linear and the CPU forward step calling the runtime's nine steps
/// in order, each preceded by a comment with its constants.
/// </summary>
internal static class LayerEmitter
{
    private const string LinearPlan = "global::SagePtq.Runtime.Compiled.LinearPlan";
    private const string CpuLayerStep = "global::SagePtq.Runtime.Compiled.CpuLayerStep";

    /// <summary>The hint name of layer <paramref name="layer"/>'s file.</summary>
    public static string HintName(ModelSpec model, LayerSpec layer) => $"{model.ClassName}.Layer{model.LayerNumber(layer.Index)}.g.cs";

    /// <summary>The file's text.</summary>
    public static string Emit(ModelSpec model, LayerSpec layer)
    {
        var a = model.Architecture;
        var i = Describe.Int(layer.Index);
        var w = new SourceWriter();
        FileHeader.Write(w, model, $"Decoder layer {i} of {model.ModelId}: its linears' constants and its CPU forward step.");
        w.Line($"partial class {model.ClassName}");
        using (w.Block())
        {
            w.Line($"/// <summary>Decoder layer {i}: attention ({Describe.Int(a.NumHeads)} heads over {Describe.Int(a.NumKeyValueHeads)} key/value heads) and SwiGLU MLP, with its linears' constants.</summary>");
            w.Line($"[global::System.CodeDom.Compiler.GeneratedCode({Describe.Literal(FileHeader.GeneratorName)}, {Describe.Literal(FileHeader.GeneratorVersion)})]");
            w.Line($"internal static partial class Layer{model.LayerNumber(layer.Index)}");
            using (w.Block())
            {
                WritePlan(w, "Query", layer.Query);
                WritePlan(w, "Key", layer.Key);
                WritePlan(w, "Value", layer.Value);
                WritePlan(w, "Output", layer.Output);
                WritePlan(w, "Gate", layer.Gate);
                WritePlan(w, "Up", layer.Up);
                WritePlan(w, "Down", layer.Down);

                w.Line($"/// <summary>Runs decoder layer {i} over the current batch on the CPU: the runtime's steps, in order, with this layer's constants.</summary>");
                w.Line($"internal static void Forward({CpuLayerStep} step)");
                using (w.Block())
                {
                    w.Line($"// layer {i} input_layernorm: RMSNorm over {Describe.Int(a.HiddenSize)}");
                    w.Line("step.AttentionNorm();");
                    w.Line($"// {Describe.LinearForCSharp(layer.Query)}");
                    w.Line($"// {Describe.LinearForCSharp(layer.Key)}");
                    w.Line($"// {Describe.LinearForCSharp(layer.Value)}");
                    w.Line("step.QueryKeyValue(Query, Key, Value);");
                    w.Line($"// layer {i} rotary embedding: {Describe.Int(a.NumHeads)} query heads and {Describe.Int(a.NumKeyValueHeads)} key heads of size {Describe.Int(a.HeadDim)}; keys and values into the cache");
                    w.Line("step.RotaryAndCache();");
                    w.Line($"// layer {i} attention: {Describe.Int(a.NumHeads)} heads over {Describe.Int(a.NumKeyValueHeads)} key/value heads ({Describe.Int(a.NumHeads / a.NumKeyValueHeads)} per group), causal, scaled by 1/√{Describe.Int(a.HeadDim)}");
                    w.Line("step.Attention();");
                    w.Line($"// {Describe.LinearForCSharp(layer.Output)}, added to the residual");
                    w.Line("step.OutputAndResidual(Output);");
                    w.Line($"// layer {i} post_attention_layernorm: RMSNorm over {Describe.Int(a.HiddenSize)}");
                    w.Line("step.MlpNorm();");
                    w.Line($"// {Describe.LinearForCSharp(layer.Gate)}");
                    w.Line($"// {Describe.LinearForCSharp(layer.Up)}");
                    w.Line("step.GateUp(Gate, Up);");
                    w.Line($"// layer {i} SwiGLU: silu(gate)·up over {Describe.Int(a.IntermediateSize)}");
                    w.Line("step.SwiGlu();");
                    w.Line($"// {Describe.LinearForCSharp(layer.Down)}, added to the residual");
                    w.Line("step.DownAndResidual(Down);");
                }
            }
        }
        return w.ToString();
    }

    private static void WritePlan(SourceWriter w, string field, LinearSpec linear)
    {
        w.Line($"/// <summary>{linear.Role}: {Describe.Shape(linear)}, {linear.Layout}, {Describe.Constants(linear)}; {Describe.Bits(linear.StorageBitsPerWeight)} storage bits per weight.</summary>");
        w.Line($"internal static readonly {LinearPlan} {field} = new {LinearPlan}(");
        w.Line($"    {Describe.Literal(linear.Name)}, Rows: {Describe.Int(linear.Rows)}, Cols: {Describe.Int(linear.Cols)}, Layout: {Describe.Literal(linear.Layout)},");
        w.Line($"    GroupCount: {Describe.Int(linear.GroupCount)}, SalientCount: {Describe.Int(linear.SalientCount)}, SalientBits: {Describe.Int(linear.SalientBits)});");
        w.Line();
    }
}
