namespace Trainyard.Compute.Batch;
