using System.Text;

namespace Trainyard.Testing.AzureDoubles;

/// <summary>
/// Splits a command line into argv the way a POSIX shell tokenises words (single quotes literal, double quotes with
/// backslash escapes, backslash outside quotes), without expanding anything: how the Batch double turns a task's
/// commandLine into a process, so quoting mistakes show up as wrong arguments.
/// </summary>
public static class PosixWords
{
    /// <summary>The words of <paramref name="commandLine"/>.</summary>
    public static IReadOnlyList<string> Split(string commandLine)
    {
        var words = new List<string>();
        var current = new StringBuilder();
        var inWord = false;
        for (var i = 0; i < commandLine.Length; i++)
        {
            var c = commandLine[i];
            switch (c)
            {
                case ' ' or '\t' or '\n':
                    if (inWord)
                    {
                        words.Add(current.ToString());
                        current.Clear();
                        inWord = false;
                    }

                    break;
                case '\'':
                    var close = commandLine.IndexOf('\'', i + 1);
                    if (close < 0)
                    {
                        throw new FormatException($"unterminated single quote at {i} in: {commandLine}");
                    }

                    current.Append(commandLine, i + 1, close - i - 1);
                    i = close;
                    inWord = true;
                    break;
                case '"':
                    i++;
                    while (i < commandLine.Length && commandLine[i] != '"')
                    {
                        if (commandLine[i] == '\\' && i + 1 < commandLine.Length && commandLine[i + 1] is '"' or '\\' or '$' or '`')
                        {
                            i++;
                        }

                        current.Append(commandLine[i]);
                        i++;
                    }

                    if (i >= commandLine.Length)
                    {
                        throw new FormatException($"unterminated double quote in: {commandLine}");
                    }

                    inWord = true;
                    break;
                case '\\' when i + 1 < commandLine.Length:
                    current.Append(commandLine[++i]);
                    inWord = true;
                    break;
                default:
                    current.Append(c);
                    inWord = true;
                    break;
            }
        }

        if (inWord)
        {
            words.Add(current.ToString());
        }

        return words;
    }
}
