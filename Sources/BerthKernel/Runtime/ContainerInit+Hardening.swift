/// The hardening steps of berth init, kept apart from its control flow.
extension ContainerInit {
    /// The compiled filter the parent sent; a malformed one is an error, never "no filter".
    static func seccompFilter(_ request: InitRequest) -> SeccompFilter? {
        guard let text = request.seccompFilter else { return nil }
        guard let filter = SeccompFilter(base64: text) else { fail("configuration: malformed seccomp filter") }
        return filter
    }
}
