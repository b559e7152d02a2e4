import BerthCLI
import BerthKernel

// The container's PID 1 is this binary re-executed as `berth init`. It must not
// go through the argument parser (or anything else): it runs before everything.
if CommandLine.argc > 1, String(cString: CommandLine.unsafeArgv[1]!) == "init" {
    ContainerInit.run()
}

BerthCommand.main()
