#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// cgroup v1 `cpu.shares` <-> cgroup v2 `cpu.weight`, the way current runc and crun convert.
///
/// runc (opencontainers/cgroups utils.go, `ConvertCPUSharesToCgroupV2Value`, since
/// commit fd95216 "ConvertCPUSharesToCgroupV2Value: improve", June 2025) and crun
/// (src/libcrun/cgroup-internal.h, `convert_shares_to_weight`) both map shares in
/// [2, 262144] to weight in [1, 10000] with a quadratic in log2(shares) that fits
/// the minimum, the maximum and the defaults (1024 shares <-> weight 100):
///
///     l = log2(shares)
///     weight = ceil(10 ^ ((l*l + 125*l) / 612 - 7/34))
///
/// Neither has the inverse (OCI configs carry shares), and berth needs it because its
/// spec speaks weight. `shares(forWeight:)` is the largest shares value that the
/// runtimes' formula maps to no more than the weight; as the curve climbs by less
/// than one weight per share, that formula maps it back to exactly the weight, so a
/// weight survives the round trip and 100 gives the v1 default of 1024.
public enum CPUShares {
    public static let minShares: UInt64 = 2
    public static let maxShares: UInt64 = 262_144
    public static let defaultShares: UInt64 = 1024
    public static let defaultWeight = 100

    /// runc's and crun's conversion, operation for operation (the same float rounding).
    public static func weight(forShares shares: UInt64) -> Int {
        if shares == 0 { return 0 }
        if shares <= minShares { return 1 }
        if shares >= maxShares { return 10_000 }
        let l = log2(Double(shares))
        let exponent = (l * l + 125 * l) / 612.0 - 7.0 / 34.0
        return Int(ceil(pow(10, exponent)))
    }

    /// The inverse: the largest shares whose weight is at most `weight` (clamped to 1...10000).
    public static func shares(forWeight weight: Int) -> UInt64 {
        let w = min(max(weight, 1), 10_000)
        // weight(forShares:) is monotonic: binary search for the last s with weight(s) <= w.
        var lo = minShares, hi = maxShares
        while lo < hi {
            let mid = lo + (hi - lo + 1) / 2
            if self.weight(forShares: mid) <= w { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }
}
