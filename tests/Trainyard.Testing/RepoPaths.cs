namespace Trainyard.Testing;

/// <summary>Paths inside the repository (samples, schemas) for tests, found from the test binary's folder.</summary>
public static class RepoPaths
{
    /// <summary>The repository root (the folder holding FunctionApp.sln), or null when the tests run outside a checkout.</summary>
    public static string? TryFindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "FunctionApp.sln")))
            {
                return dir.FullName;
            }
        }

        return null;
    }

    /// <summary>The repository root; throws when not in a checkout.</summary>
    public static string Root => TryFindRoot() ?? throw new InvalidOperationException($"no FunctionApp.sln above {AppContext.BaseDirectory}: run the tests from a checkout of the repository");

    /// <summary>A path relative to the repository root.</summary>
    public static string Of(params string[] parts) => Path.Combine([Root, .. parts]);
}
