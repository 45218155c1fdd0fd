using QuickStart;
using SagePtq.Runtime.Generation;

// SageLm7mModel was generated at build time from the quantized model's manifest (see
// obj/Release/net10.0/generated/ with EmitCompilerGeneratedFiles, or "Go to definition").
using var model = new SageLm7mModel();
Console.Error.WriteLine($"{SageLm7mModel.ModelId}: {model.Config.NumLayers} layers, hidden {model.Config.HiddenSize}, quantized with SAGE-PTQ at build time");

string prompt = args.Length > 0 ? string.Join(' ', args) : "The President said that";

// Greedy: the same text on every run and every machine.
Console.WriteLine(prompt + model.Generate(prompt, GenerationOptions.Greedy with { MaxTokens = 40 }));

// Sampled and streamed as it is generated.
Console.Write(prompt);
await foreach (string piece in model.GenerateAsync(prompt, new GenerationOptions { MaxTokens = 40, Temperature = 0.8f, Seed = 7 }))
    Console.Write(piece);
Console.WriteLine();
