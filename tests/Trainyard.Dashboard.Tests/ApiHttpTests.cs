using System.Text;
using Microsoft.AspNetCore.Http;
using Trainyard.Dashboard;
using Trainyard.Service;

namespace Trainyard.Dashboard.Tests;

/// <summary>The request conversion `trainyard ui` and `trainyard serve` share: bounded bodies, escaped paths.</summary>
public sealed class ApiHttpTests
{
    [Fact]
    public async Task ABodyWithoutContentLength_OverTheLimit_IsRefused_AndOneAtTheLimitIsRead()
    {
        var over = await ApiHttp.ReadAsync(Request("/api/pipelines/p/runs", new string('x', ApiHandler.MaxBodyBytes + 1)));
        var at = await ApiHttp.ReadAsync(Request("/api/pipelines/p/runs", new string('x', ApiHandler.MaxBodyBytes)));

        Assert.Null(over);
        Assert.NotNull(at);
        Assert.Equal(ApiHandler.MaxBodyBytes, at.Body.Length);
    }

    [Fact]
    public async Task ThePath_StaysEscapedForTheHandler_WithoutThePrefix()
    {
        var request = await ApiHttp.ReadAsync(Request("/api/pipelines/a%2Fb/runs", ""));

        Assert.Equal("pipelines/a%2Fb/runs", request!.Path);
        Assert.Equal("POST", request.Method);
    }

    private static HttpRequest Request(string path, string body)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = "post";
        context.Request.Path = PathString.FromUriComponent(path);
        context.Request.Body = new MemoryStream(Encoding.UTF8.GetBytes(body)); // no Content-Length: as a chunked body arrives
        return context.Request;
    }
}
