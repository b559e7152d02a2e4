import FoundationEssentials
import Glibc

/// FoundationEssentials' file errors (a CocoaError with the path and the POSIX error beneath)
/// as the one line a person reads: `No such file or directory`, the path being in the
/// message around it. Its own description is the whole structure (`CocoaError(code: ...,
/// userInfo: [...])`); `localizedDescription` is Foundation's, which berth does not link.
public enum FileErrorText {
    public static func reason(_ error: any Error) -> String {
        guard let cocoa = error as? CocoaError else { return "\(error)" }
        if let posix = cocoa.userInfo["NSUnderlyingError"] as? POSIXError {
            return String(cString: strerror(posix.code.rawValue))
        }
        return "file error \(cocoa.code.rawValue)"
    }
}
