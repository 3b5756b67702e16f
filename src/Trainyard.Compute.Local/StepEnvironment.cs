namespace Trainyard.Compute.Local;

/// <summary>
/// The environment a local step process starts with: an allow-list, not the host's environment. A pipeline is code
/// anyone who can push it may write, so the host's credentials (cloud keys, managed-identity endpoints, tokens,
/// connection strings) must never reach it; docs/security.md describes the trust model.
/// </summary>
public static class StepEnvironment
{
    /// <summary>Host variables every step gets (what a program needs to find tools, a home, a locale and a temp folder).</summary>
    public static readonly IReadOnlyList<string> Allowed =
    [
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TERM", "TMPDIR", "TEMP", "TMP",
        // Windows needs these for almost any process (the C runtime, sockets, profile folders) to start.
        "SYSTEMROOT", "WINDIR", "COMSPEC", "PATHEXT", "SYSTEMDRIVE", "USERPROFILE", "APPDATA", "LOCALAPPDATA", "PROGRAMDATA",
    ];

    private static readonly string[] CredentialPrefixes = ["AZURE_", "IDENTITY_", "MSI_", "AWS_", "GOOGLE_", "GCP_", "AZUREWEBJOBS", "ARM_", "ACTIONS_"];

    private static readonly string[] CredentialParts = ["KEY", "SECRET", "TOKEN", "PASSWORD", "PASSWD", "CONNECTION", "CREDENTIAL", "SAS"];

    /// <summary>
    /// True when <paramref name="name"/> looks like it holds a credential (by prefix or by a word such as KEY, SECRET,
    /// TOKEN, PASSWORD, CONNECTION); such host variables are never passed to a step, even when an operator lists them.
    /// </summary>
    public static bool IsCredentialName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var upper = name.ToUpperInvariant();
        if (CredentialPrefixes.Any(p => upper.StartsWith(p, StringComparison.Ordinal)))
        {
            return true;
        }

        // Whole words of the name (split at '_'), plus a trailing word glued on (PGPASSWORD): MONKEY is not a key, API_KEY is.
        var words = upper.Split('_', StringSplitOptions.RemoveEmptyEntries);
        return words.Any(w => CredentialParts.Contains(w, StringComparer.Ordinal))
            || CredentialParts.Any(p => p.Length >= 5 && upper.EndsWith(p, StringComparison.Ordinal));
    }

    /// <summary>
    /// The host variables a step inherits: <see cref="Allowed"/> plus the operator's <paramref name="passThrough"/>
    /// names, minus anything that <see cref="IsCredentialName"/>; names match case-insensitively (Windows spells them freely).
    /// </summary>
    /// <param name="host">The host's environment.</param>
    /// <param name="passThrough">Extra names the operator allows (e.g. CUDA_VISIBLE_DEVICES).</param>
    public static Dictionary<string, string> Inherited(IEnumerable<KeyValuePair<string, string?>> host, IReadOnlyCollection<string> passThrough)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(passThrough);
        var allowed = new HashSet<string>(Allowed.Concat(passThrough), StringComparer.OrdinalIgnoreCase);
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in host)
        {
            if (value is not null && allowed.Contains(name) && !IsCredentialName(name))
            {
                result[name] = value;
            }
        }

        return result;
    }
}
