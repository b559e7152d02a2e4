/// The `user:` of a container as written: a user (name or uid) and optionally a group
/// (name or gid), e.g. `postgres`, `redis:redis`, `1000`, `1000:1000`, `postgres:1000`.
///
/// Names mean nothing without the container's root filesystem: the engine resolves a
/// `User` to an ``Identity`` through the root's own /etc/passwd and /etc/group before it
/// plans (see `UserResolver` in the Berth module). The rules, as Docker and runc apply them:
/// - a user name must have a line in /etc/passwd; a uid need not;
/// - without a group, the gid is the passwd line's, or the uid itself when the uid has no
///   line (berth's v1 rule: `1000` alone is 1000:1000);
/// - the supplementary groups are the groups of /etc/group that list the user's name
///   (none for a uid without a passwd line), as runc sets them.
public struct User: Sendable, CustomStringConvertible, Codable {
    /// One side of `user[:group]`.
    public enum Part: Sendable, Hashable, CustomStringConvertible {
        case id(UInt32)
        case name(String)

        public var description: String {
            switch self {
            case .id(let n): String(n)
            case .name(let s): s
            }
        }
    }

    public var user: Part
    /// nil: the user's primary group (see the type's rules).
    public var group: Part?
    /// Where the spec wrote `user:`, for errors found when it is resolved. Not part of a
    /// user's identity: `==` and the records ignore it.
    public var source: SpecPosition?

    public init(user: Part, group: Part? = nil, source: SpecPosition? = nil) {
        self.user = user
        self.group = group
        self.source = source
    }

    /// Both ids given as numbers.
    public init(uid: UInt32, gid: UInt32) {
        self.init(user: .id(uid), group: .id(gid))
    }

    /// uid 0 with the primary group and the groups the root's files give it: the default.
    public static let root = User(user: .id(0))

    /// The ids when no file is needed to know them (both sides numbers, or a uid alone,
    /// whose gid is then the uid), without supplementary groups; nil when a side is a name.
    public var numericIdentity: Identity? {
        guard case .id(let uid) = user else { return nil }
        switch group {
        case nil: return Identity(uid: uid, gid: uid)
        case .id(let gid)?: return Identity(uid: uid, gid: gid)
        case .name?: return nil
        }
    }

    /// As written: `postgres`, `1000:1000`.
    public var description: String {
        group.map { "\(user):\($0)" } ?? user.description
    }

    /// Parses `user[:group]`, each side a name or a number.
    public init(parsing text: String) throws(ValueError) {
        let usage = "use a name or uid, optionally with :group or :gid, e.g. postgres, \"1000:1000\", redis:redis"
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2, let user = Self.part(parts[0]), parts.count == 1 || Self.part(parts[1]) != nil else {
            throw ValueError("\(quoted(text)) is not a user", hint: usage)
        }
        self.init(user: user, group: parts.count == 2 ? Self.part(parts[1]) : nil)
    }

    /// A number (never the invalid id 4294967295), or a name as shadow-utils accepts
    /// them: letters, digits, `.`, `_`, `-`, not starting with `-`, a trailing `$`
    /// allowed, at most 32 characters.
    static func part(_ s: Substring) -> Part? {
        guard !s.isEmpty, s.utf8.count <= 32 else { return nil }
        if s.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) {
            guard s.count <= 10, let n = UInt32(s), n != UInt32.max else { return nil }
            return .id(n)
        }
        let bytes = Array(s.utf8)
        guard bytes[0] != UInt8(ascii: "-") else { return nil }
        for (i, b) in bytes.enumerated() {
            let ok = (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122)
                || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "-")
                || (b == UInt8(ascii: "$") && i == bytes.count - 1)
            if !ok { return nil }
        }
        return .name(String(s))
    }

    // Records hold the text as written; records of berth before names held {uid, gid}.
    private enum LegacyKeys: String, CodingKey { case uid, gid }

    public init(from decoder: any Decoder) throws {
        if let legacy = try? decoder.container(keyedBy: LegacyKeys.self),
           let uid = try legacy.decodeIfPresent(UInt32.self, forKey: .uid) {
            self.init(uid: uid, gid: try legacy.decodeIfPresent(UInt32.self, forKey: .gid) ?? uid)
            return
        }
        let text = try decoder.singleValueContainer().decode(String.self)
        do {
            try self.init(parsing: text)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension User: Equatable {
    public static func == (a: User, b: User) -> Bool { a.user == b.user && a.group == b.group }
}

/// What a ``User`` resolved to in a container's root: the ids the command runs with.
public struct Identity: Sendable, Hashable, Codable, CustomStringConvertible {
    public var uid: UInt32
    public var gid: UInt32
    /// Supplementary groups (setgroups(2)), ascending and without duplicates: the kernel's
    /// `Groups:` line of /proc/PID/status.
    public var groups: [UInt32]

    public init(uid: UInt32, gid: UInt32, groups: [UInt32] = []) {
        self.uid = uid
        self.gid = gid
        self.groups = groups
    }

    /// As id(1) says it: `uid=65534 gid=65534 groups=100,65534`.
    public var description: String {
        "uid=\(uid) gid=\(gid)" + (groups.isEmpty ? "" : " groups=" + groups.map(String.init).joined(separator: ","))
    }
}
