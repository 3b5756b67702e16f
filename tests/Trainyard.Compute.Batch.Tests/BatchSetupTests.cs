using Trainyard.Compute.Batch;

namespace Trainyard.Compute.Batch.Tests;

public sealed class BatchSetupTests
{
    private static Func<string, string?> Settings(params (string Name, string Value)[] values) =>
        name => values.FirstOrDefault(v => v.Name == name).Value;

    [Fact]
    public void TryFromSettings_NoEndpoint_IsOffWithTheSettingToSet()
    {
        var batch = BatchSetup.TryFromSettings(Settings());
        Assert.Null(batch.Executor);
        Assert.Contains("TRAINYARD_BATCH_ENDPOINT", batch.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void TryFromSettings_EndpointAndContainer_GivesAnExecutor()
    {
        var batch = BatchSetup.TryFromSettings(Settings(
            ("TRAINYARD_BATCH_ENDPOINT", "https://127.0.0.1:4443"),
            ("TRAINYARD_BATCH_ARTIFACT_CONTAINER_URL", "http://127.0.0.1:10000/devstoreaccount1/trainyard-artifacts"),
            ("TRAINYARD_BATCH_POOL_PRICES", "gpu=0.526;cpu=0.096")));
        Assert.NotNull(batch.Executor);
        Assert.Null(batch.Problem);
    }

    [Theory]
    [InlineData("TRAINYARD_BATCH_POOL_PRICES", "gpu=cheap", "TRAINYARD_BATCH_POOL_PRICES")]
    [InlineData("TRAINYARD_BATCH_ARTIFACT_CONTAINER_URL", "", "TRAINYARD_BATCH_ARTIFACT_CONTAINER_URL")]
    [InlineData("TRAINYARD_BATCH_ARTIFACT_CONTAINER_URL", "not a url", "TRAINYARD_BATCH_ARTIFACT_CONTAINER_URL")]
    public void TryFromSettings_BadSetting_DoesNotThrow_AndNamesIt(string name, string value, string named)
    {
        var values = new Dictionary<string, string>
        {
            ["TRAINYARD_BATCH_ENDPOINT"] = "https://acct.westeurope.batch.azure.com",
            ["TRAINYARD_BATCH_ARTIFACT_CONTAINER_URL"] = "https://st.blob.core.windows.net/trainyard-artifacts",
            [name] = value,
        };
        var batch = BatchSetup.TryFromSettings(n => values.GetValueOrDefault(n));
        Assert.Null(batch.Executor);
        Assert.Contains(named, batch.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Credential_LoopbackEndpointIsAnEmulator_AzureEndpointUsesDefaultAzureCredential()
    {
        Assert.DoesNotContain("DefaultAzureCredential", AzureCredentials.For(new Uri("https://127.0.0.1:5000"), null).GetType().Name, StringComparison.Ordinal);
        Assert.Equal("DefaultAzureCredential", AzureCredentials.For(new Uri("https://acct.westeurope.batch.azure.com"), "client-id").GetType().Name);
    }
}
