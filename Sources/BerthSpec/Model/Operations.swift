/// How much of a container's output berth keeps (`logging:`): rotation is on by default.
public struct Logging: Sendable, Equatable, Codable {
    /// Bytes per log file before it is rotated; 0: one file without bound. Default 10Mi.
    public var maxSize: ByteSize
    /// Files kept, the current one included, at least 1. Default 3.
    public var maxFiles: Int

    public init(maxSize: ByteSize = Logging.standard.maxSize, maxFiles: Int = Logging.standard.maxFiles) {
        self.maxSize = maxSize
        self.maxFiles = maxFiles
    }

    /// 10Mi x 3 files.
    public static let standard = Logging(maxSize: ByteSize(bytes: 10 << 20, text: "10Mi"), maxFiles: 3)
    /// Below this a file would not hold a line of a few KiB.
    public static let minimumSize: UInt64 = 4 << 10
}

/// `healthcheck:`: a command berth runs inside the container to tell whether it works,
/// with Docker's semantics.
public struct Healthcheck: Sendable, Equatable, Codable {
    /// What to run: `["CMD", argv...]`, or `["CMD-SHELL", "script"]` (run by `/bin/sh -c`).
    public enum Test: Sendable, Equatable, Codable {
        case command([String])
        case shell(String)

        /// The argv that runs inside the container.
        public var argv: [String] {
            switch self {
            case .command(let argv): argv
            case .shell(let script): ["/bin/sh", "-c", script]
            }
        }
    }

    /// What berth does with a container that turned unhealthy.
    public enum OnUnhealthy: String, Sendable, Equatable, Codable, CaseIterable {
        /// Stop it (stopSignal, stopTimeout, SIGKILL) and start it again per `restart:`, with the backoff.
        case restart
        /// Only report it.
        case none
    }

    public var test: Test
    /// Between checks once the start period is over. Default 30s.
    public var interval: TimeSpan
    /// A check that runs longer is killed and counts as a failure. Default 30s.
    public var timeout: TimeSpan
    /// Consecutive failures that make the container unhealthy. Default 3.
    public var retries: Int
    /// Failures in this time after the start do not count (a success still counts). Default 0s.
    public var startPeriod: TimeSpan
    /// Between checks during the start period. Default 5s.
    public var startInterval: TimeSpan
    /// Default `.restart`.
    public var onUnhealthy: OnUnhealthy

    public init(test: Test, interval: TimeSpan = TimeSpan(milliseconds: 30_000), timeout: TimeSpan = TimeSpan(milliseconds: 30_000),
                retries: Int = 3, startPeriod: TimeSpan = TimeSpan(milliseconds: 0),
                startInterval: TimeSpan = TimeSpan(milliseconds: 5_000), onUnhealthy: OnUnhealthy = .restart) {
        self.test = test
        self.interval = interval
        self.timeout = timeout
        self.retries = retries
        self.startPeriod = startPeriod
        self.startInterval = startInterval
        self.onUnhealthy = onUnhealthy
    }
}

/// One entry of `dependsOn:`: a container of the spec that must reach a condition
/// before this one is started.
public struct Dependency: Sendable, Equatable, Codable {
    public enum Condition: String, Sendable, Equatable, Codable, CaseIterable {
        /// Its process runs.
        case started
        /// Its healthcheck passed (it must have one).
        case healthy
        /// It exited with code 0 (a `restart: never` or `on-failure` job, e.g. a migration).
        case completed
    }

    /// The name of a container of the spec.
    public var name: String
    public var condition: Condition
    /// When it is replaced, this container is started again too (Compose's `restart: true`).
    public var restart: Bool

    public init(name: String, condition: Condition = .started, restart: Bool = false) {
        self.name = name
        self.condition = condition
        self.restart = restart
    }
}
