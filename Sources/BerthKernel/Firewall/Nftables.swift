import CNftables
import Glibc

/// A failed nftables command: what berth asked for and what libnftables said.
public struct NftablesError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// libnftables cannot be loaded (not installed, or without a function berth calls).
        case library
        /// `nft_ctx_new` failed (out of memory, or the library is broken).
        case context
        /// The command ran and nftables refused it (the kernel's answer is in `message`).
        case command
        /// nftables answered with JSON berth cannot read.
        case output
    }

    public var kind: Kind
    /// What berth was doing, e.g. `list table ip berth`.
    public var operation: String
    /// libnftables' error buffer, trimmed.
    public var message: String

    public init(_ kind: Kind, _ operation: String, _ message: String) {
        self.kind = kind
        self.operation = operation
        self.message = message
    }

    public var description: String {
        message.isEmpty ? "nftables: \(operation) failed" : "nftables: \(operation): \(message)"
    }
}

/// libnftables, loaded on first use: `berth --version`, and every command on a project
/// without networks or published ports, never map it and the five libraries it pulls in
/// (about 0.7 ms of dynamic loading at each start of berth: docs/benchmarks.md).
/// The header gives the types and constants; the functions come from `dlsym`.
private struct NftablesLibrary: @unchecked Sendable {
    /// Debian's libnftables1 ships it (a dependency of the nftables package).
    static let soname = "libnftables.so.1"

    let ctxNew: @convention(c) (UInt32) -> OpaquePointer?
    let ctxFree: @convention(c) (OpaquePointer?) -> Void
    let setOutputFlags: @convention(c) (OpaquePointer?, UInt32) -> Void
    let bufferOutput: @convention(c) (OpaquePointer?) -> Int32
    let bufferError: @convention(c) (OpaquePointer?) -> Int32
    let outputBuffer: @convention(c) (OpaquePointer?) -> UnsafePointer<CChar>?
    let errorBuffer: @convention(c) (OpaquePointer?) -> UnsafePointer<CChar>?
    let runFromBuffer: @convention(c) (OpaquePointer?, UnsafePointer<CChar>?) -> Int32

    /// Loaded once per process; a failure is remembered and given to every caller.
    static let shared: Result<NftablesLibrary, NftablesError> = {
        do throws(NftablesError) {
            return .success(try load())
        } catch {
            return .failure(error)
        }
    }()

    private static func load() throws(NftablesError) -> NftablesLibrary {
        guard let handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL) else {
            let reason = dlerror().map { String(cString: $0) } ?? "not found"
            throw NftablesError(.library, "load \(soname)",
                                "\(reason) (berth's firewall needs libnftables: Debian's libnftables1)")
        }
        func symbol<F>(_ name: String, as _: F.Type) throws(NftablesError) -> F {
            guard let address = dlsym(handle, name) else {
                throw NftablesError(.library, "load \(soname)", "it has no \(name)")
            }
            return unsafeBitCast(address, to: F.self)
        }
        return NftablesLibrary(
            ctxNew: try symbol("nft_ctx_new", as: (@convention(c) (UInt32) -> OpaquePointer?).self),
            ctxFree: try symbol("nft_ctx_free", as: (@convention(c) (OpaquePointer?) -> Void).self),
            setOutputFlags: try symbol("nft_ctx_output_set_flags",
                                       as: (@convention(c) (OpaquePointer?, UInt32) -> Void).self),
            bufferOutput: try symbol("nft_ctx_buffer_output", as: (@convention(c) (OpaquePointer?) -> Int32).self),
            bufferError: try symbol("nft_ctx_buffer_error", as: (@convention(c) (OpaquePointer?) -> Int32).self),
            outputBuffer: try symbol("nft_ctx_get_output_buffer",
                                     as: (@convention(c) (OpaquePointer?) -> UnsafePointer<CChar>?).self),
            errorBuffer: try symbol("nft_ctx_get_error_buffer",
                                    as: (@convention(c) (OpaquePointer?) -> UnsafePointer<CChar>?).self),
            runFromBuffer: try symbol("nft_run_cmd_from_buffer",
                                      as: (@convention(c) (OpaquePointer?, UnsafePointer<CChar>?) -> Int32).self)
        )
    }
}

/// One libnftables context, JSON in and JSON out.
///
/// A context holds the netlink socket of the network namespace it was made in:
/// make one per operation, on the thread (and so in the namespace) it is used.
final class Nftables {
    private let lib: NftablesLibrary
    private let ctx: OpaquePointer

    init() throws {
        let lib = try NftablesLibrary.shared.get()
        guard let ctx = lib.ctxNew(UInt32(NFT_CTX_DEFAULT)) else {
            throw NftablesError(.context, "nft_ctx_new", "cannot create a libnftables context")
        }
        self.lib = lib
        self.ctx = ctx
        lib.setOutputFlags(ctx, UInt32(NFT_CTX_OUTPUT_JSON) | UInt32(NFT_CTX_OUTPUT_HANDLE))
        _ = lib.bufferOutput(ctx)
        _ = lib.bufferError(ctx)
    }

    deinit { lib.ctxFree(ctx) }

    /// Runs one JSON batch (`{"nftables": [...]}`); the kernel applies it as one
    /// transaction, so a batch that fails changes nothing. Returns the parsed output
    /// (`.null` when the batch printed nothing, as changes do).
    @discardableResult
    func run(_ commands: [NftJSON], operation: String) throws -> NftJSON {
        let text = NftJSON.object([("nftables", .array(commands))]).serialized
        let rc = text.withCString { lib.runFromBuffer(ctx, $0) }
        let error = lib.errorBuffer(ctx).map { String(cString: $0) } ?? ""
        let output = lib.outputBuffer(ctx).map { String(cString: $0) } ?? ""
        guard rc == 0 else {
            throw NftablesError(.command, operation, error.trimmingSpaces())
        }
        guard !output.trimmingSpaces().isEmpty else { return .null }
        do {
            return try NftJSON.parse(output)
        } catch {
            throw NftablesError(.output, operation, "\(error)")
        }
    }
}

extension Firewall {
    /// Why berth's firewall cannot work on this host (libnftables cannot be loaded), or
    /// nil when it can: apply's preflight asks before it changes anything.
    public static var libraryProblem: NftablesError? {
        if case .failure(let error) = NftablesLibrary.shared { return error }
        return nil
    }
}
