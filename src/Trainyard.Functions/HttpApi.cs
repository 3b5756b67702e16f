using Microsoft.AspNetCore.Mvc;
using Trainyard.Service;

namespace Trainyard.Functions;

/// <summary>The host-neutral <see cref="ApiResponse"/> as an ASP.NET Core action result (requests are read by <see cref="Trainyard.Dashboard.ApiHttp"/>).</summary>
internal static class HttpApi
{
    /// <summary>The JSON answer as an action result.</summary>
    public static ContentResult ToResult(ApiResponse response) => new()
    {
        StatusCode = response.StatusCode,
        ContentType = "application/json; charset=utf-8",
        Content = response.Body.ToJsonString(),
    };
}
