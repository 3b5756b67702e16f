using System.Collections.Concurrent;
using System.Globalization;
using Azure;
using Azure.Identity;
using Azure.Storage.Blobs;

namespace Trainyard.Storage.Azure;

/// <summary>Creates a container on first use, once per process and container, and tries again after a failure.</summary>
internal static class ContainerGate
{
    private static readonly ConcurrentDictionary<string, Lazy<Task>> Created = new(StringComparer.Ordinal);

    public static Func<CancellationToken, Task> For(BlobContainerClient container) => ct => EnsureAsync(container, ct);

    public static Task EnsureAsync(BlobContainerClient container, CancellationToken cancellationToken)
    {
        var key = container.Uri.AbsoluteUri;
        var lazy = Created.GetOrAdd(key, _ => new Lazy<Task>(() => CreateAsync(container)));
        var task = lazy.Value;
        if (task.IsFaulted || task.IsCanceled)
        {
            // A failed creation (account unreachable, role missing) must not stick: the next call tries again.
            Created.TryRemove(new KeyValuePair<string, Lazy<Task>>(key, lazy));
        }

        return task.IsCompletedSuccessfully ? Task.CompletedTask : task.WaitAsync(cancellationToken);
    }

    /// <summary>Forgets that a container was created (it was deleted).</summary>
    public static void Forget(BlobContainerClient container) => Created.TryRemove(container.Uri.AbsoluteUri, out _);

    private static async Task CreateAsync(BlobContainerClient container)
    {
        try
        {
            await container.CreateIfNotExistsAsync().ConfigureAwait(false);
        }
        catch (RequestFailedException e)
        {
            throw new InvalidOperationException(
                $"Could not create blob container '{container.Name}' ({(e.Status == 0 ? "unreachable" : e.Status.ToString(CultureInfo.InvariantCulture))} {e.ErrorCode}): " +
                $"check that {container.Uri.GetLeftPart(UriPartial.Authority)} is reachable and the identity has the Storage Blob Data Contributor role " +
                "(for Azurite: that it runs on 127.0.0.1:10000).", e);
        }
        catch (AuthenticationFailedException e)
        {
            throw new InvalidOperationException(
                $"Could not sign in to {container.Uri.GetLeftPart(UriPartial.Authority)} for blob container '{container.Name}': {e.Message.Split('\n')[0]} " +
                "Sign in with `az login` (workstation) or give the app a managed identity with the Storage Blob Data Contributor role.", e);
        }
    }
}
