namespace Paddock.Engine.Hosting;

/// <summary>The admin's choice: <see cref="Auto"/> probes, anything else forces that accelerator.</summary>
public enum AcceleratorSetting
{
    Auto,
    Kvm,
    Whpx,
    Tcg,
}
