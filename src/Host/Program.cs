using Paddock.Host;

// The agent's own folder is its content root whatever the current directory (./paddock up starts it
// from the checkout): its appsettings.json is read from there.
var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });

builder.AddAgentOptions();
builder.AddAgentNode();
builder.AddAgentNetworks();
builder.AddAgentVms();
builder.AddAgentConsole();
builder.AddAgentPortalConnection();
builder.AddAgentTracing();

await builder.Build().RunAsync();
