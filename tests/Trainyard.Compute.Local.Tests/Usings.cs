global using Trainyard.Core.Engine;
global using Trainyard.Core.Spec;
global using Trainyard.Execution.Artifacts;
global using Trainyard.Execution.Contracts;
