using SagePtq.Quantizer.Cli;

return SagePtqCli.Run(args, Console.Out, Console.Error);
