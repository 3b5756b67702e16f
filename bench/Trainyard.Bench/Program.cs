// Benchmark families, one file each, chosen by the first argument.
return args.FirstOrDefault() switch
{
    "engine" => await Trainyard.Bench.EngineBench.RunAsync(args[1..]),
    "durable" => await Trainyard.Bench.DurableBench.RunAsync(args[1..]),
    "durable-compare" => await Trainyard.Bench.DurableCompareBench.RunAsync(args[1..]),
    "decider" => Trainyard.Bench.DeciderBench.Run(args[1..]),
    "spec" => Trainyard.Bench.SpecBench.Run(args[1..]),
    "validate-10k" or "load-10k" => Trainyard.Bench.SpecBench.Run(args),
    "ml" => await Trainyard.Bench.MlBench.RunAsync(args[1..]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: dotnet run -c Release --project bench/Trainyard.Bench -- engine [scenario|all] [memory|sqlite|all] [--runs N]");
    Console.Error.WriteLine("       dotnet run -c Release --project bench/Trainyard.Bench -- durable [fanout-1000|chain-100|all] [memory|azure|all] [--runs N]");
    Console.Error.WriteLine("       dotnet run -c Release --project bench/Trainyard.Bench -- durable-compare [--runs N] [--out bench/results/durable-compare.md]   (Azurite on 127.0.0.1:10000-10002)");
    Console.Error.WriteLine("       dotnet run -c Release --project bench/Trainyard.Bench -- decider [runs]");
    Console.Error.WriteLine("       dotnet run -c Release --project bench/Trainyard.Bench -- spec [validate-10k|load-10k|all] [--runs N]   (or just: validate-10k)");
    Console.Error.WriteLine("       dotnet run -c Release --project bench/Trainyard.Bench -- ml validate-data-1gb [--size-mb N] | ml churn-sample [--runs N]");
    return 2;
}
