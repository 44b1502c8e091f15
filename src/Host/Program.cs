using Paddock.Host;

var builder = Host.CreateApplicationBuilder(args);

builder.AddAgentOptions();
builder.AddAgentNode();
builder.AddAgentNetworks();
builder.AddAgentVms();
builder.AddAgentConsole();
builder.AddAgentPortalConnection();
builder.AddAgentTracing();

await builder.Build().RunAsync();
