namespace Trainyard.Functions;

/// <summary>Names of the app's non-Durable functions (the Durable ones are <see cref="Engine.Durable.DurableNames"/>).</summary>
public static class FunctionNames
{
    /// <summary>Timer: schedules, debounce windows, watchdog, purge.</summary>
    public const string OnSchedule = "OnSchedule";

    /// <summary>Blob trigger (Event Grid source) on the data container.</summary>
    public const string OnBlobArrived = "OnBlobArrived";

    /// <summary>Queue trigger on <see cref="DriftQueue"/>.</summary>
    public const string OnDriftSignal = "OnDriftSignal";

    /// <summary>HTTP: the web dashboard below api/ui/ (App Service Authentication).</summary>
    public const string Dashboard = "Dashboard";

    /// <summary>Timer: drains the Service Bus drift-signals subscription.</summary>
    public const string DrainServiceBus = "DrainServiceBus";

    /// <summary>Storage queue of drift signals.</summary>
    public const string DriftQueue = "drift-signals";

    /// <summary>Every minute, on the minute.</summary>
    public const string ScheduleCron = "0 * * * * *";

    /// <summary>Every 30 seconds, between the schedule ticks.</summary>
    public const string DrainCron = "15,45 * * * * *";
}
