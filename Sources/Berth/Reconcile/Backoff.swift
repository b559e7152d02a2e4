/// Restart backoff, as the kubelet does it: the first restart at once, then
/// 10 s doubling to 5 min; a container that ran 10 min is forgiven its failures.
public enum RestartBackoff {
    public static let initialDelay = 10.0
    public static let maximumDelay = 300.0
    public static let resetAfter = 600.0

    /// Failures that count towards the next delay, given how long the last run lasted.
    public static func failures(previous: Int, ranFor seconds: Double?) -> Int {
        if let seconds, seconds >= resetAfter { return 0 }
        return previous
    }

    /// Seconds to wait after a death before starting again.
    public static func delay(failures: Int) -> Double {
        guard failures > 0 else { return 0 }
        let exponent = min(failures - 1, 16)
        return min(initialDelay * Double(1 << exponent), maximumDelay)
    }
}
