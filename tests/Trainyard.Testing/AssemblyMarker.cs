namespace Trainyard.Testing;
