using Trainyard.Bench;

// Scenario groups by first argument: `decider [runs]` measures the pure decider alone.
if (args.Length > 0 && args[0] == "decider")
{
    DeciderBench.Run(args[1..]);
    return;
}

Console.WriteLine("bench");
