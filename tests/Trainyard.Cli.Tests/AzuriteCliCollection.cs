using Trainyard.Testing;

[assembly: TestFramework("Trainyard.Testing.AzuriteTestFramework", "Trainyard.Testing")]

namespace Trainyard.Cli.Tests;

/// <summary>One Azurite for the Azure tests of this assembly.</summary>
[CollectionDefinition(Name)]
public sealed class AzuriteCliCollection : ICollectionFixture<AzuriteFixture>
{
    public const string Name = "azurite-cli";
}
