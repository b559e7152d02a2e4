import BerthSpec

/// A healthcheck as plan shows it.
enum HealthText {
    static func render(_ check: Healthcheck?) -> String {
        guard let check else { return "none" }
        let test: String
        switch check.test {
        case .command(let argv): test = "CMD " + argv.joined(separator: " ")
        case .shell(let script): test = "CMD-SHELL " + script
        }
        return "\(test) (interval \(check.interval.text), timeout \(check.timeout.text), retries \(check.retries), "
            + "startPeriod \(check.startPeriod.text), onUnhealthy \(check.onUnhealthy.rawValue))"
    }
}
