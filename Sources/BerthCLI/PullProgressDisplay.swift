import BerthKernel
import BerthRegistry
import FoundationEssentials
import Synchronization

/// Progress of a pull on standard error: on a terminal one bar per layer (bytes, total, rate),
/// redrawn in place at most ten times a second; otherwise one line per layer when it is done.
final class PullProgressDisplay: @unchecked Sendable {
    enum Mode { case terminal, lines, quiet }

    private struct Layer {
        var digest: Digest
        var total: Int64
        var bytes: Int64 = 0
        var started = ContinuousClock.now
        var state: String = "waiting"
    }

    private let mode: Mode
    private let lock = Mutex(())
    private var layers: [Layer] = []
    private var drawnLines = 0
    private var lastDraw = ContinuousClock.now - .seconds(1)

    init(mode: Mode) { self.mode = mode }

    func handle(_ event: PullEvent) {
        guard mode != .quiet else { return }
        lock.withLock { _ in handleLocked(event) }
    }

    private func handleLocked(_ event: PullEvent) {
        switch event {
        case .resolved(let reference, let digest, let platform):
            let p = platform.map { " for \($0)" } ?? ""
            write("\(reference): \(digest)\(p)\n")
        case .layer(let digest, let size, let present):
            var l = Layer(digest: digest, total: size)
            if present {
                l.state = "already present"
                l.bytes = size
                if mode == .lines { write("\(digest.short): \(Self.bytes(size)) already present\n") }
            }
            layers.append(l)
        case .progress(let digest, let bytes, _):
            update(digest) { $0.bytes = bytes; $0.state = "downloading" }
        case .retrying(let digest, let attempt, let reason):
            update(digest) { $0.state = "retrying (attempt \(attempt))" }
            if mode == .lines { write("\(digest.short): retrying (attempt \(attempt)): \(reason)\n") }
        case .layerDone(let digest, let size):
            update(digest) { $0.bytes = size; $0.state = "done" }
            if mode == .lines, let l = layers.first(where: { $0.digest == digest }) {
                let elapsed = ContinuousClock.now - l.started
                write("\(digest.short): \(Self.bytes(size)) in \(Self.seconds(elapsed)) (\(Self.rate(size, elapsed)))\n")
            }
        }
        if mode == .terminal, ContinuousClock.now - lastDraw >= .milliseconds(100) { draw() }
    }

    /// The last picture on a terminal.
    func finish() {
        lock.withLock { _ in
            if mode == .terminal, !layers.isEmpty { draw() }
        }
    }

    private func update(_ digest: Digest, _ change: (inout Layer) -> Void) {
        guard let i = layers.firstIndex(where: { $0.digest == digest }) else { return }
        if layers[i].state == "waiting" { layers[i].started = .now }
        change(&layers[i])
    }

    private func draw() {
        lastDraw = .now
        var out = drawnLines > 0 ? "\u{1B}[\(drawnLines)A" : ""
        for l in layers {
            let width = 30
            let filled = l.total > 0 ? Int(Double(width) * Double(l.bytes) / Double(l.total)) : width
            let bar = String(repeating: "=", count: min(filled, width)) + String(repeating: " ", count: max(0, width - filled))
            let rate = l.state == "downloading" ? "  " + Self.rate(l.bytes, ContinuousClock.now - l.started) : ""
            out += "\u{1B}[2K\(l.digest.short) [\(bar)] \(Self.bytes(l.bytes)) / \(Self.bytes(l.total))\(rate)  \(l.state)\n"
        }
        drawnLines = layers.count
        write(out)
    }

    private func write(_ s: String) { StandardStreams.writeError(s) }

    static func bytes(_ n: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB"]
        var v = Double(n)
        var u = 0
        while v >= 1024, u < units.count - 1 { v /= 1024; u += 1 }
        return u == 0 ? "\(n) B" : Printf.string("%.1f ", v) + units[u]
    }

    static func seconds(_ d: Duration) -> String {
        let (s, atto) = d.components
        return Printf.string("%.1f s", Double(s) + Double(atto) / 1e18)
    }

    static func rate(_ count: Int64, _ d: Duration) -> String {
        let (s, atto) = d.components
        let secs = max(Double(s) + Double(atto) / 1e18, 0.001)
        return bytes(Int64(Double(count) / secs)) + "/s"
    }
}
