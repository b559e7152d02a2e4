import BerthInit

// A container's PID 1, or the relay of `berth exec`; started by berth only (see ContainerInit).
ContainerInit.run()
