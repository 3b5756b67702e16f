using DurableTask.Core;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Worker.Shims;
using CoreActivity = DurableTask.Core.TaskActivity;

namespace Trainyard.Engine.Durable.Hosting;

/// <summary>Hands the Durable Task Framework a shim of an isolated-worker orchestrator, new for every episode.</summary>
internal sealed class OrchestrationShimCreator : ObjectCreator<TaskOrchestration>
{
    private readonly DurableTaskShimFactory _shims;
    private readonly Func<ITaskOrchestrator> _create;

    public OrchestrationShimCreator(DurableTaskShimFactory shims, string name, Func<ITaskOrchestrator> create)
    {
        _shims = shims;
        _create = create;
        Name = name;
        Version = "";
    }

    public override TaskOrchestration Create() => _shims.CreateOrchestration(new TaskName(Name), _create(), null);
}

/// <summary>Hands the Durable Task Framework a shim of an isolated-worker activity.</summary>
internal sealed class ActivityShimCreator : ObjectCreator<CoreActivity>
{
    private readonly DurableTaskShimFactory _shims;
    private readonly ITaskActivity _activity;

    public ActivityShimCreator(DurableTaskShimFactory shims, string name, ITaskActivity activity)
    {
        _shims = shims;
        _activity = activity;
        Name = name;
        Version = "";
    }

    public override CoreActivity Create() => _shims.CreateActivity(new TaskName(Name), _activity);
}
