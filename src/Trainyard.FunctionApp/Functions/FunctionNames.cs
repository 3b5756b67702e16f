namespace Trainyard.FunctionApp.Functions;

/// <summary>
/// The functions of the app. Each name is a folder holding its function.json, and the path the host POSTs
/// invocations to (<c>/{name}</c>). A test checks this list, the folders and the endpoints agree.
/// </summary>
public static class FunctionNames
{
    /// <summary>timerTrigger, every minute: schedule triggers and blob debounce windows.</summary>
    public const string OnSchedule = "OnSchedule";

    /// <summary>blobTrigger (source EventGrid) on the data container.</summary>
    public const string OnBlobArrived = "OnBlobArrived";

    /// <summary>serviceBusTrigger on topic drift-signals, subscription trainyard.</summary>
    public const string OnDriftSignal = "OnDriftSignal";

    /// <summary>queueTrigger on the control queue.</summary>
    public const string AdvanceRun = "AdvanceRun";

    /// <summary>queueTrigger on the work queue.</summary>
    public const string ExecuteTask = "ExecuteTask";

    /// <summary>httpTrigger (authLevel function, route api/{*path}): the HTTP API.</summary>
    public const string Api = "Api";

    /// <summary>Every function.</summary>
    public static IReadOnlyList<string> All { get; } = [OnSchedule, OnBlobArrived, OnDriftSignal, AdvanceRun, ExecuteTask, Api];

    /// <summary>Binding names the handler reads from Data.</summary>
    public static class Bindings
    {
        /// <summary>Timer binding.</summary>
        public const string Timer = "timer";

        /// <summary>Blob trigger binding.</summary>
        public const string Blob = "blob";

        /// <summary>Queue and Service Bus trigger binding.</summary>
        public const string Message = "message";

        /// <summary>HTTP trigger binding.</summary>
        public const string Request = "req";

        /// <summary>HTTP output binding.</summary>
        public const string Response = "res";

        /// <summary>Catch-all route value of the Api function.</summary>
        public const string RoutePath = "path";
    }
}
