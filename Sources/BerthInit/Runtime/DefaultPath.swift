extension ContainerConfig {
    /// The PATH a command is looked up on when the environment has none; also
    /// added to the environment, as Docker does.
    public static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
}
