import CNftables

/// A failed nftables command: what berth asked for and what libnftables said.
public struct NftablesError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
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

/// One libnftables context, JSON in and JSON out.
///
/// A context holds the netlink socket of the network namespace it was made in:
/// make one per operation, on the thread (and so in the namespace) it is used.
final class Nftables {
    private let ctx: OpaquePointer

    init() throws {
        guard let ctx = nft_ctx_new(UInt32(NFT_CTX_DEFAULT)) else {
            throw NftablesError(.context, "nft_ctx_new", "cannot create a libnftables context")
        }
        self.ctx = ctx
        nft_ctx_output_set_flags(ctx, UInt32(NFT_CTX_OUTPUT_JSON) | UInt32(NFT_CTX_OUTPUT_HANDLE))
        _ = nft_ctx_buffer_output(ctx)
        _ = nft_ctx_buffer_error(ctx)
    }

    deinit { nft_ctx_free(ctx) }

    /// Runs one JSON batch (`{"nftables": [...]}`); the kernel applies it as one
    /// transaction, so a batch that fails changes nothing. Returns the parsed output
    /// (`.null` when the batch printed nothing, as changes do).
    @discardableResult
    func run(_ commands: [NftJSON], operation: String) throws -> NftJSON {
        let text = NftJSON.object([("nftables", .array(commands))]).serialized
        let rc = text.withCString { nft_run_cmd_from_buffer(ctx, $0) }
        let error = nft_ctx_get_error_buffer(ctx).map { String(cString: $0) } ?? ""
        let output = nft_ctx_get_output_buffer(ctx).map { String(cString: $0) } ?? ""
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
