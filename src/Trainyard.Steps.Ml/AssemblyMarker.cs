namespace Trainyard.Steps.Ml;
