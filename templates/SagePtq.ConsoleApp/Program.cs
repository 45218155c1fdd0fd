using SagePtq.Runtime.Generation;
using SagePtqApp;

// SageLm7mModel is generated at build time from the quantized model's manifest: its forward pass
// has every layer's shapes, group counts and salient counts compiled in, and its weights travel
// with this app (embedded in the assembly, or in a `sageptq` folder beside it for large models).
using var model = new SageLm7mModel();

string prompt = args.Length > 0 ? string.Join(' ', args) : "Once upon a time";
var options = new GenerationOptions { MaxTokens = 64, Temperature = 0.7f, Seed = 42 };

Console.Write(prompt);
await foreach (string piece in model.GenerateAsync(prompt, options))
    Console.Write(piece);
Console.WriteLine();
