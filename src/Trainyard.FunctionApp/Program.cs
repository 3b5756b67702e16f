// Azure Functions custom handler (ASP.NET Core). The Functions host (or `trainyard serve`) starts this process with
// FUNCTIONS_CUSTOMHANDLER_PORT and POSTs each invocation to /{FunctionName}; see docs/function-app.md.
using Trainyard.FunctionApp;

var settings = AppSettings.Read();
var app = FunctionAppHost.Build(settings, args);
await app.RunAsync();
