using Trainyard.Execution.Contracts;

namespace Trainyard.Execution.Data;

/// <summary>Routes a data URI to the first source that serves it (local data root, Azure Blob data container, ...).</summary>
public sealed class DataSources(IEnumerable<IDataSource> sources) : IDataSource
{
    private readonly IReadOnlyList<IDataSource> _sources = [.. sources];

    /// <inheritdoc />
    public bool Serves(string uri) => _sources.Any(s => s.Serves(uri));

    /// <inheritdoc />
    public Task<DataObject> OpenAsync(string uri, string? expectedETag, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(uri);
        var source = _sources.FirstOrDefault(s => s.Serves(uri))
            ?? throw new DataSourceException(DataSourceError.Refused, _sources.Count == 0
                ? $"{uri}: this host has no data source configured (locally: a data root, TRAINYARD_DATA_ROOT or ./data; in Azure: the data container)"
                : $"{uri}: no configured data source serves this URI; use file:relative/path (local data root) or the data container's blob URL");
        return source.OpenAsync(uri, expectedETag, cancellationToken);
    }
}

/// <summary>The few services built-in steps ask for (data sources, signal sinks, the model registry), without a DI container.</summary>
public sealed class StepServices : IServiceProvider
{
    private readonly Dictionary<Type, object> _services = [];

    /// <summary>Adds (or replaces) the service of type <typeparamref name="T"/>.</summary>
    public StepServices Add<T>(T service) where T : class
    {
        ArgumentNullException.ThrowIfNull(service);
        _services[typeof(T)] = service;
        return this;
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType) => _services.GetValueOrDefault(serviceType);
}
