// The container side (BerthInit) is part of the kernel layer's API: ContainerConfig,
// KernelError, LogFiles... are the kernel layer's types to its users.
@_exported import BerthInit
