using System.Text;

namespace Trainyard.Compute.Batch;

/// <summary>
/// Builds a Batch command line from an argv. Batch does not run the command line under a shell, so Trainyard wraps
/// the argv in `/bin/sh -c '…'` (to create the outputs folder first) and quotes every argument with POSIX single
/// quotes, so no argument is ever expanded, split or interpreted by the shell.
/// </summary>
public static class ShellCommand
{
    /// <summary>Quotes one word for a POSIX shell (unchanged when it only has safe characters).</summary>
    public static string Quote(string word)
    {
        ArgumentNullException.ThrowIfNull(word);
        if (word.Length > 0 && word.All(IsSafe))
        {
            return word;
        }

        // Inside single quotes nothing is special except the closing quote: end the quoted part, add an escaped quote, reopen.
        return "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
    }

    /// <summary>Joins words into one shell command line, each quoted.</summary>
    public static string Join(IEnumerable<string> words) => string.Join(' ', words.Select(Quote));

    /// <summary>
    /// The Batch commandLine for <paramref name="argv"/>: `/bin/sh -c '&lt;setup&gt; &amp;&amp; exec &lt;argv&gt;'`.
    /// </summary>
    public static string ForBatch(IReadOnlyList<string> argv, string setup)
    {
        ArgumentNullException.ThrowIfNull(argv);
        if (argv.Count == 0)
        {
            throw new ArgumentException("The step's run.command is empty: give at least the program to run.", nameof(argv));
        }

        var script = new StringBuilder();
        if (!string.IsNullOrEmpty(setup))
        {
            script.Append(setup).Append(" && ");
        }

        script.Append("exec ").Append(Join(argv));
        return "/bin/sh -c " + Quote(script.ToString());
    }

    private static bool IsSafe(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.' or '/' or ':' or ',' or '=' or '+' or '@' or '%';
}
