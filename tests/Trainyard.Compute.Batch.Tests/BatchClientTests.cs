using Trainyard.Compute.Batch;
using Trainyard.Testing.AzureDoubles;

namespace Trainyard.Compute.Batch.Tests;

public sealed class BatchClientTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    private static BatchTaskSpec Task(string id) => new() { Id = id, CommandLine = "/bin/sh -c 'exit 0'" };

    [Fact]
    public async Task CreateTask_AnswerLostAfterCreate_RetrySees409TaskExists_ReportsExistingAndOneTaskRuns()
    {
        await using var h = await BatchHarness.StartAsync();
        using var cts = new CancellationTokenSource(Limit);
        await h.Client.CreateJobAsync(new BatchJobSpec("job-1", new BatchPoolInfo("cpu")), cts.Token);
        h.Batch.InjectFault(1, "POST", "/jobs/job-1/tasks", afterCommit: true);

        var result = await h.Client.CreateTaskAsync("job-1", Task("task-1"), cts.Token);

        Assert.Equal(BatchCreateResult.AlreadyExisted, result);
        Assert.Single(h.Batch.FindJob("job-1")!.Tasks);
        // The create, the retried create (409) and the confirming GET.
        Assert.Equal(2, h.Batch.Requests.Count(r => r.Method == "POST" && r.Path == "/jobs/job-1/tasks"));
        Assert.Contains(h.Batch.Requests, r => r.Method == "GET" && r.Path == "/jobs/job-1/tasks/task-1");
    }

    [Fact]
    public async Task CreateJob_Twice_SecondIsAlreadyExisted()
    {
        await using var h = await BatchHarness.StartAsync();
        using var cts = new CancellationTokenSource(Limit);

        Assert.Equal(BatchCreateResult.Created, await h.Client.CreateJobAsync(new BatchJobSpec("job-2", new BatchPoolInfo("cpu")), cts.Token));
        Assert.Equal(BatchCreateResult.AlreadyExisted, await h.Client.CreateJobAsync(new BatchJobSpec("JOB-2", new BatchPoolInfo("cpu")), cts.Token));
    }

    [Fact]
    public async Task CreateTask_SameIdDifferentCommand_FailsWithCollisionMessage()
    {
        await using var h = await BatchHarness.StartAsync();
        using var cts = new CancellationTokenSource(Limit);
        await h.Client.CreateJobAsync(new BatchJobSpec("job-3", new BatchPoolInfo("cpu")), cts.Token);
        await h.Client.CreateTaskAsync("job-3", Task("t"), cts.Token);

        var e = await Assert.ThrowsAsync<BatchException>(() => h.Client.CreateTaskAsync("job-3", new BatchTaskSpec { Id = "T", CommandLine = "/bin/true" }, cts.Token));

        Assert.Equal("TaskExists", e.Code);
        Assert.Contains("different command line", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ServerBusy_IsRetriedWithBackoff_ThenSucceeds()
    {
        await using var h = await BatchHarness.StartAsync();
        using var cts = new CancellationTokenSource(Limit);
        h.Batch.InjectFault(3, "POST", "/jobs");

        var result = await h.Client.CreateJobAsync(new BatchJobSpec("job-busy", new BatchPoolInfo("cpu")), cts.Token);

        Assert.Equal(BatchCreateResult.Created, result);
        Assert.Equal(4, h.Batch.Requests.Count(r => r.Method == "POST" && r.Path == "/jobs"));
    }

    [Fact]
    public async Task ServerBusy_BeyondRetries_SurfacesAsTransientBatchException()
    {
        await using var h = await BatchHarness.StartAsync();
        using var cts = new CancellationTokenSource(Limit);
        h.Batch.InjectFault(100, "GET", "/jobs/j");

        var e = await Assert.ThrowsAsync<BatchException>(() => h.Client.GetJobAsync("j", cts.Token));

        Assert.Equal(503, e.Status);
        Assert.Equal("ServerBusy", e.Code);
        Assert.True(e.IsTransient);
        Assert.Equal(1 + h.Options.Client.Retry.MaxRetries, h.Batch.Requests.Count(r => r.Path == "/jobs/j"));
    }

    [Fact]
    public async Task BadRequest_IsNotRetried_AndCarriesBatchCodeAndMessage()
    {
        await using var h = await BatchHarness.StartAsync();
        using var cts = new CancellationTokenSource(Limit);

        var e = await Assert.ThrowsAsync<BatchException>(() => h.Client.CreateJobAsync(new BatchJobSpec("bad id!", new BatchPoolInfo("cpu")), cts.Token));

        Assert.Equal(400, e.Status);
        Assert.Equal("InvalidPropertyValue", e.Code);
        Assert.Contains("PropertyName=id", e.Message, StringComparison.Ordinal);
        Assert.Single(h.Batch.Requests, r => r.Method == "POST");
    }

    [Fact]
    public async Task GetTask_Missing_ReturnsNull()
    {
        await using var h = await BatchHarness.StartAsync();
        using var cts = new CancellationTokenSource(Limit);

        Assert.Null(await h.Client.GetTaskAsync("nojob", "notask", cts.Token));
        Assert.Null(await h.Client.GetJobAsync("nojob", cts.Token));
    }

    [Fact]
    public async Task ListTasks_FollowsNextLinkAcrossPages()
    {
        await using var h = await BatchHarness.StartAsync();
        using var cts = new CancellationTokenSource(Limit);
        h.Batch.ServerPageSize = 3;
        await h.Client.CreateJobAsync(new BatchJobSpec("job-list", new BatchPoolInfo("cpu")), cts.Token);
        for (var i = 0; i < 8; i++)
        {
            await h.Client.CreateTaskAsync("job-list", Task($"t{i}"), cts.Token);
        }

        var ids = new List<string>();
        await foreach (var t in h.Client.ListTasksAsync("job-list", maxResults: 100, cts.Token))
        {
            ids.Add(t.Id);
        }

        Assert.Equal(Enumerable.Range(0, 8).Select(i => $"t{i}"), ids);
        Assert.Equal(3, h.Batch.Requests.Count(r => r.Method == "GET" && r.Path == "/jobs/job-list/tasks"));
        Assert.Contains(h.Batch.Requests, r => r.Query.Contains("$skiptoken=6", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Requests_CarryApiVersionBearerTokenAndODataContentType()
    {
        await using var h = await BatchHarness.StartAsync();
        using var cts = new CancellationTokenSource(Limit);

        await h.Client.CreateJobAsync(new BatchJobSpec("job-h", new BatchPoolInfo("cpu")), cts.Token);

        var post = Assert.Single(h.Batch.Requests);
        Assert.Contains("api-version=2025-06-01", post.Query, StringComparison.Ordinal);
        Assert.Equal("Bearer test-token", post.Authorization);
        Assert.Equal("application/json; odata=minimalmetadata", post.ContentType);
        Assert.Contains("\"poolInfo\":{\"poolId\":\"cpu\"}", post.Body, StringComparison.Ordinal);
        Assert.Contains("\"onAllTasksComplete\":\"noaction\"", post.Body, StringComparison.Ordinal);
        Assert.Equal(BatchClient.Scope, Assert.Single(h.Credential.Scopes.Distinct()));
    }

    [Fact]
    public async Task WrongApiVersion_IsRejectedByTheDouble_WithBatchErrorBody()
    {
        await using var h = await BatchHarness.StartAsync();
        using var cts = new CancellationTokenSource(Limit);
        var options = new BatchClientOptions { ApiVersion = "2020-01-01.11.0", Transport = h.Batch.Certificate.CreateTransport() };
        var client = new BatchClient(h.Batch.Endpoint, h.Credential, options);

        var e = await Assert.ThrowsAsync<BatchException>(() => client.GetJobAsync("x", cts.Token));

        Assert.Equal("InvalidQueryParameterValue", e.Code);
    }

    [Fact]
    public async Task TerminateTask_CompletedOrMissing_IsNotAnError()
    {
        await using var h = await BatchHarness.StartAsync();
        using var cts = new CancellationTokenSource(Limit);
        await h.Client.CreateJobAsync(new BatchJobSpec("job-t", new BatchPoolInfo("cpu")), cts.Token);
        await h.Client.CreateTaskAsync("job-t", Task("done"), cts.Token);
        await h.Batch.WaitForStateAsync("job-t", "done", "completed", cts.Token);

        await h.Client.TerminateTaskAsync("job-t", "done", cts.Token);
        await h.Client.TerminateTaskAsync("job-t", "missing", cts.Token);
        await h.Client.TerminateJobAsync("job-t", "run finished", cts.Token);
        await h.Client.TerminateJobAsync("job-t", "run finished", cts.Token);

        Assert.Equal("completed", h.Batch.FindJob("job-t")!.State);
    }
}
