using Xunit;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace Trainyard.Testing;

/// <summary>Marks a test class that needs Azurite (for <see cref="AzuriteTestFramework"/>).</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = true)]
public sealed class NeedsAzuriteAttribute : Attribute;

/// <summary>
/// xunit framework that reports every test of a <see cref="NeedsAzuriteAttribute"/> class as skipped, with the
/// reason, when TRAINYARD_SKIP_AZURITE=1 — also tests declared with a plain [Fact] in a base class (the backend
/// conformance suite), which an attribute cannot reach. Use with
/// <c>[assembly: TestFramework("Trainyard.Testing.AzuriteTestFramework", "Trainyard.Testing")]</c>.
/// </summary>
public sealed class AzuriteTestFramework(IMessageSink messageSink) : XunitTestFramework(messageSink)
{
    /// <inheritdoc />
    protected override ITestFrameworkDiscoverer CreateDiscoverer(IAssemblyInfo assemblyInfo) =>
        new Discoverer(assemblyInfo, SourceInformationProvider, DiagnosticMessageSink);

    private sealed class Discoverer(IAssemblyInfo assembly, ISourceInformationProvider source, IMessageSink diagnostics)
        : XunitTestFrameworkDiscoverer(assembly, source, diagnostics)
    {
        protected override bool FindTestsForMethod(ITestMethod testMethod, bool includeSourceInformation, IMessageBus messageBus, ITestFrameworkDiscoveryOptions discoveryOptions)
        {
            if (!AzuriteFixture.SkipRequested
                || !testMethod.TestClass.Class.GetCustomAttributes(typeof(NeedsAzuriteAttribute)).Any()
                || !testMethod.Method.GetCustomAttributes(typeof(FactAttribute)).Any())
            {
                return base.FindTestsForMethod(testMethod, includeSourceInformation, messageBus, discoveryOptions);
            }

            var skipped = new XunitSkippedDataRowTestCase(
                DiagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod,
                "Azurite tests skipped on request (TRAINYARD_SKIP_AZURITE=1).");
            return ReportDiscoveredTestCase(skipped, includeSourceInformation, messageBus);
        }
    }
}
