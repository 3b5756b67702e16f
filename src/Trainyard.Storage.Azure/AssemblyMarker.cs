namespace Trainyard.Storage.Azure;
