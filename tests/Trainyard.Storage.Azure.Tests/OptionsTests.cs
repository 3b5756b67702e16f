using Azure.Core;
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
        var error = Assert.Throws<ArgumentException>(() => AzureStorageOptions.ForDevelopmentStorage(hub).Validate());
        Assert.Contains("lowercase letters and digits", error.Message, StringComparison.Ordinal);
        Assert.Equal("taskHub", error.ParamName);
    }

    [Fact]
    public void Parse_DevelopmentStorage_ReadsTheTaskHub()
    {
        var options = AzureStorageOptions.Parse("azure:UseDevelopmentStorage=true;TaskHub=prod2");

        Assert.True(options.UseDevelopmentStorage);
        Assert.Null(options.BlobServiceUri);
        Assert.Equal("prod2", options.TaskHub);
        Assert.Equal(AzureStorageOptions.DefaultTaskHub, AzureStorageOptions.Parse("UseDevelopmentStorage=true").TaskHub);
    }

    [Theory]
    [InlineData("azure:https://acme.blob.core.windows.net")]
    [InlineData("azure:https://acme.blob.core.windows.net/;TaskHub=prod2")]
    [InlineData("azure:TaskHub=prod2;https://acme.blob.core.windows.net/")]
    public void Parse_AccountEndpoint_UsesIdentity(string value)
    {
        var options = AzureStorageOptions.Parse(value);

        Assert.False(options.UseDevelopmentStorage);
        Assert.Equal(new Uri("https://acme.blob.core.windows.net/"), options.BlobServiceUri);
        Assert.Null(options.Credential);
    }

    [Theory]
    [InlineData("azure:", "names no account")]
    [InlineData("azure:;TaskHub=prod2", "names no account")]
    [InlineData("azure:https://example.com/", "blob endpoint")]
    [InlineData("azure:https://acme.queue.core.windows.net", "blob endpoint")]
    [InlineData("azure:https://acme.blob.core.windows.net/container", "blob endpoint")]
    [InlineData("azure:https://acme.blob.core.windows.net/?sv=2024&sig=abc", "not accepted")]
    [InlineData("azure:http://acme.blob.core.windows.net", "neither")]
    [InlineData("azure:DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=c2VjcmV0", "not accepted")]
    [InlineData("azure:BlobEndpoint=https://acme.blob.core.windows.net/;SharedAccessSignature=sv=2024&sig=abc", "not accepted")]
    [InlineData("azure:UseDevelopmentStorage=false", "neither")]
    public void Parse_Unusable_SaysWhatToWrite(string value, string why)
    {
        var error = Assert.Throws<ArgumentException>(() => AzureStorageOptions.Parse(value));

        Assert.Contains(why, error.Message, StringComparison.Ordinal);
        Assert.Contains("UseDevelopmentStorage=true", error.Message, StringComparison.Ordinal);
        Assert.Contains("https://<account>.blob.core.windows.net", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("c2VjcmV0", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("sig=abc", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_NeedsExactlyOneIdentity()
    {
        Assert.Throws<ArgumentException>(() => new AzureStorageOptions().Validate());
        Assert.Throws<ArgumentException>(() => (AzureStorageOptions.ForDevelopmentStorage() with { BlobServiceUri = new Uri("https://acme.blob.core.windows.net/") }).Validate());
        var credential = new NoCredential();
        Assert.Contains("drop the credential", Assert.Throws<ArgumentException>(() => (AzureStorageOptions.ForDevelopmentStorage() with { Credential = credential }).Validate()).Message, StringComparison.Ordinal);
        Assert.Same(credential, AzureStorageOptions.ForAccount(new Uri("https://acme.blob.core.windows.net"), credential).Credential);
    }

    [Fact]
    public void Names_AreAllPrefixedByTheTaskHub()
    {
        var names = new BlobContainerNames("prod2");

        Assert.Equal(["prod2-artifacts", "prod2-values", "prod2-pipelines"], names.All);
    }

    [Fact]
    public void NewTaskHub_IsValid() => AzureStorageOptions.ValidateTaskHub(AzuriteFixture.NewTaskHub());

    /// <summary>A credential that is never asked for a token (the options only hold it).</summary>
    private sealed class NoCredential : TokenCredential
    {
        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("not used by option validation");

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("not used by option validation");
    }
}
