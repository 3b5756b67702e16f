using Trainyard.Testing;

namespace Trainyard.Storage.Azure.Tests;

public sealed class OptionsTests
{
    [Theory]
    [InlineData("Trainyard")]
    [InlineData("ty")]
    [InlineData("my-hub")]
    [InlineData("1hub")]
    [InlineData("abcdefghijklmnopqrstuvwxy")]
    public void TaskHub_Invalid_IsRejectedWithAFix(string hub)
    {
        var error = Assert.Throws<ArgumentException>(() => AzureBackendOptions.FromConnectionString("UseDevelopmentStorage=true", hub).Validate());
        Assert.Contains("lowercase letters and digits", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_ConnectionString_KeepsItAndReadsTheTaskHub()
    {
        var options = AzureBackendOptions.Parse("azure:UseDevelopmentStorage=true;TaskHub=prod2");

        Assert.Equal("UseDevelopmentStorage=true", options.ConnectionString);
        Assert.Equal("prod2", options.TaskHub);
        Assert.Equal(AzureBackendOptions.DefaultTaskHub, AzureBackendOptions.Parse("azure:UseDevelopmentStorage=true").TaskHub);
    }

    [Fact]
    public void Parse_AccountUri_DerivesTheThreeServicesForManagedIdentity()
    {
        var options = AzureBackendOptions.Parse("azure:https://acme.queue.core.windows.net");

        Assert.Null(options.ConnectionString);
        Assert.Equal(new Uri("https://acme.blob.core.windows.net/"), options.BlobServiceUri);
        Assert.Equal(new Uri("https://acme.queue.core.windows.net/"), options.QueueServiceUri);
        Assert.Equal(new Uri("https://acme.table.core.windows.net/"), options.TableServiceUri);
    }

    [Theory]
    [InlineData("azure:")]
    [InlineData("azure:https://example.com/")]
    public void Parse_Unusable_SaysWhatToWrite(string value)
    {
        var error = Assert.Throws<ArgumentException>(() => AzureBackendOptions.Parse(value));
        Assert.Contains("blob.core.windows.net", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Names_AreAllPrefixedByTheTaskHub()
    {
        var names = new TaskHubNames("prod2");

        Assert.Equal(["prod2runs", "prod2index", "prod2kv"], new[] { names.RunsTable, names.IndexTable, names.ValuesTable });
        Assert.Equal(["prod2-control", "prod2-work", "prod2-control-poison", "prod2-work-poison"], new[] { names.ControlQueue, names.WorkQueue, names.ControlPoisonQueue, names.WorkPoisonQueue });
        Assert.Equal(["prod2-artifacts", "prod2-large"], new[] { names.ArtifactsContainer, names.LargeValuesContainer });
    }

    [Fact]
    public void NewTaskHub_IsValid()
    {
        AzureBackendOptions.ValidateTaskHub(AzuriteFixture.NewTaskHub());
    }
}
