// Benchmark families, one file each, chosen by the first argument.
return args.FirstOrDefault() switch
{
    "engine" => await Trainyard.Bench.EngineBench.RunAsync(args[1..]),
    "decider" => Trainyard.Bench.DeciderBench.Run(args[1..]),
    "ml" => await Trainyard.Bench.MlBench.RunAsync(args[1..]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: dotnet run -c Release --project bench/Trainyard.Bench -- engine [scenario|all] [memory|sqlite|azure|all] [--runs N]");
    Console.Error.WriteLine("       dotnet run -c Release --project bench/Trainyard.Bench -- decider [runs]");
    Console.Error.WriteLine("       dotnet run -c Release --project bench/Trainyard.Bench -- ml validate-data-1gb [--size-mb N] | ml churn-sample [--runs N]");
    return 2;
}
