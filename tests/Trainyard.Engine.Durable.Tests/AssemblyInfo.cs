[assembly: TestFramework("Trainyard.Testing.AzuriteTestFramework", "Trainyard.Testing")]
