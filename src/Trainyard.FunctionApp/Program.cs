// Azure Functions custom handler (ASP.NET Core). The Functions host calls it over HTTP on
// 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT; see shared/reference/azure-contracts.md.
var builder = WebApplication.CreateBuilder(args);
var port = Environment.GetEnvironmentVariable("FUNCTIONS_CUSTOMHANDLER_PORT") ?? "7071";
builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
var app = builder.Build();
app.MapGet("/", () => Results.Ok(new { status = "ready" }));
app.Run();
