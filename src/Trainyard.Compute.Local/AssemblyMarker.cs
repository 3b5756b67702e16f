namespace Trainyard.Compute.Local;
