import CYAML

/// Reads one YAML document with libyaml's event API into a ``YAMLNode`` tree.
///
/// Hostile input is bounded, not trusted: nesting deeper than ``maxDepth``,
/// aliases that would expand past ``aliasBudget`` nodes (the "billion laughs"
/// document), several documents, duplicate keys, non-scalar keys and unknown
/// tags become diagnostics. The composer is iterative, so deep input cannot
/// exhaust the stack.
public enum YAMLParser {
    /// Deepest nesting of mappings and lists accepted.
    public static let maxDepth = 200
    /// How many nodes all alias uses together may expand to.
    public static let aliasBudget = 100_000

    public struct Result: Sendable {
        /// The document's root; nil when the file holds no document or has a syntax error.
        public var root: YAMLNode?
        /// Where the document starts (its `---`, or its first node).
        public var documentLocation: SourceLocation
        public var diagnostics: [Diagnostic]
    }

    /// Parses `bytes` (UTF-8, or UTF-16 with a byte order mark); `file` names the source in diagnostics.
    public static func parse(_ bytes: [UInt8], file: String) -> Result {
        var composer = Composer(file: file, bytes: bytes)
        composer.run()
        return Result(root: composer.root, documentLocation: composer.documentLocation, diagnostics: composer.diagnostics)
    }
}

private struct Composer {
    let file: String
    let bytes: [UInt8]
    var root: YAMLNode?
    var documentLocation = SourceLocation(line: 1, column: 1)
    var diagnostics: [Diagnostic] = []

    /// An open mapping or list. A class, so that appending to the innermost one never copies its items.
    private final class Frame {
        let isMapping: Bool
        let location: SourceLocation
        let anchor: String?
        var weight = 1
        var items: [YAMLNode] = []
        var entries: [YAMLNode.Entry] = []
        /// The keys of `entries` by name, once there are too many to search them one by one.
        var keyIndex: [String: SourceLocation]?
        /// A key waiting for its value.
        var pendingKey: YAMLScalar?
        /// The key was rejected: drop its value too.
        var skipValue = false
        /// `<<` values, and the index in `entries` where the merged keys go.
        var merges: [(at: Int, value: YAMLNode)] = []

        func firstLocation(of key: String) -> SourceLocation? {
            // Most mappings are short, and a linear search beats hashing there.
            if keyIndex == nil, entries.count > 16 {
                keyIndex = Dictionary(entries.map { ($0.key.value, $0.key.location) }, uniquingKeysWith: { first, _ in first })
            }
            if let keyIndex { return keyIndex[key] }
            return entries.first { $0.key.value == key }?.key.location
        }

        func append(_ entry: YAMLNode.Entry) {
            entries.append(entry)
            keyIndex?[entry.key.value] = entry.key.location
        }

        init(isMapping: Bool, location: SourceLocation, anchor: String?) {
            self.isMapping = isMapping
            self.location = location
            self.anchor = anchor
        }
    }

    private var stack: [Frame] = []
    private var anchors: [String: YAMLNode] = [:]
    private var aliasExpansion = 0
    private var documents = 0

    init(file: String, bytes: [UInt8]) {
        self.file = file
        self.bytes = bytes
    }

    private mutating func error(_ location: SourceLocation, _ message: String, path: String = "", hint: String? = nil) {
        diagnostics.append(Diagnostic(file: file, location: location, path: path, message: message, hint: hint))
    }

    mutating func run() {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            error(.file, "cannot initialise the YAML parser (out of memory)")
            return
        }
        defer { yaml_parser_delete(&parser) }

        bytes.withUnsafeBufferPointer { buffer in
            // libyaml only reads the buffer; an empty array may have no base address.
            let empty: [UInt8] = [0]
            empty.withUnsafeBufferPointer { fallback in
                let base = buffer.count > 0 ? buffer.baseAddress! : fallback.baseAddress!
                yaml_parser_set_input_string(&parser, base, buffer.count)
                loop(&parser)
            }
        }
    }

    private mutating func loop(_ parser: inout yaml_parser_t) {
        var event = yaml_event_t()
        while true {
            guard yaml_parser_parse(&parser, &event) == 1 else {
                reportSyntaxError(parser)
                return
            }
            let done = handle(event)
            // yaml_event_delete clears the whole event, marks included.
            let location = SourceLocation(line: event.start_mark.line + 1, column: event.start_mark.column + 1)
            yaml_event_delete(&event)
            if done { return }
            if diagnostics.count >= Validator.maxDiagnostics {
                error(location, "more than \(Validator.maxDiagnostics) problems; berth stops reading here")
                return
            }
        }
    }

    /// Returns true when parsing must stop.
    private mutating func handle(_ event: yaml_event_t) -> Bool {
        let location = SourceLocation(line: event.start_mark.line + 1, column: event.start_mark.column + 1)
        switch event.type {
        case YAML_STREAM_START_EVENT, YAML_DOCUMENT_END_EVENT:
            return false
        case YAML_STREAM_END_EVENT:
            if documents == 0 {
                error(.file, "the file holds no YAML document", hint: "a spec starts with `version: 1`")
            }
            return true
        case YAML_DOCUMENT_START_EVENT:
            documents += 1
            if documents == 1 { documentLocation = location }
            if documents > 1 {
                error(location, "a spec file holds one YAML document, and a second one starts here",
                      hint: "remove the `---` or split the file")
                return true
            }
            return false
        case YAML_SCALAR_EVENT:
            let s = event.data.scalar
            let value = string(s.value, length: s.length)
            let style: YAMLScalar.Style
            switch s.style {
            case YAML_SINGLE_QUOTED_SCALAR_STYLE: style = .singleQuoted
            case YAML_DOUBLE_QUOTED_SCALAR_STYLE: style = .doubleQuoted
            case YAML_LITERAL_SCALAR_STYLE: style = .literal
            case YAML_FOLDED_SCALAR_STYLE: style = .folded
            default: style = .plain
            }
            var kind = YAMLScalar.resolve(value, style: style)
            if let tag = s.tag.map({ String(cString: $0) }) {
                guard let tagged = scalarKind(tag: tag, value: value, style: style, at: location) else { return true }
                kind = tagged
            }
            let node = YAMLNode(.scalar(YAMLScalar(value: value, style: style, kind: kind, location: location)), location: location)
            if let anchor = s.anchor { anchors[String(cString: anchor)] = node }
            add(node)
            return false
        case YAML_ALIAS_EVENT:
            let name = String(cString: event.data.alias.anchor)
            guard let target = anchors[name] else {
                error(location, "the alias *\(name) names no anchor defined before it")
                return true
            }
            aliasExpansion += target.weight
            if aliasExpansion > YAMLParser.aliasBudget {
                error(location, "aliases expand to more than \(YAMLParser.aliasBudget) nodes",
                      hint: "an alias bomb? berth follows aliases only within a fixed budget")
                return true
            }
            var node = target
            node.location = location
            add(node)
            return false
        case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
            let isMapping = event.type == YAML_MAPPING_START_EVENT
            if stack.count >= YAMLParser.maxDepth {
                error(location, "mappings and lists nest deeper than \(YAMLParser.maxDepth) levels")
                return true
            }
            let tagPointer = isMapping ? event.data.mapping_start.tag : event.data.sequence_start.tag
            if let tag = tagPointer.map({ String(cString: $0) }) {
                let expected = isMapping ? "tag:yaml.org,2002:map" : "tag:yaml.org,2002:seq"
                guard tag == expected || tag == "!" else {
                    error(location, "the tag \(quoted(tag)) is not supported")
                    return true
                }
            }
            let anchorPointer = isMapping ? event.data.mapping_start.anchor : event.data.sequence_start.anchor
            let anchor = anchorPointer.map { String(cString: $0) }
            stack.append(Frame(isMapping: isMapping, location: location, anchor: anchor))
            return false
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            guard let frame = stack.popLast() else { return true }
            let node = frame.isMapping
                ? finishMapping(frame)
                : YAMLNode(.sequence(frame.items), location: frame.location, weight: frame.weight)
            if let anchor = frame.anchor { anchors[anchor] = node }
            add(node)
            return false
        default:
            return false
        }
    }

    /// Places a finished node in its parent, or makes it the root.
    private mutating func add(_ node: YAMLNode) {
        guard let top = stack.last else {
            root = node
            return
        }
        if top.isMapping {
            addToMapping(top, node)
        } else {
            top.items.append(node)
            top.weight += node.weight
        }
    }

    private mutating func addToMapping(_ frame: Frame, _ node: YAMLNode) {
        guard let key = frame.pendingKey else {
            if frame.skipValue {
                frame.skipValue = false
                return
            }
            guard let scalar = node.scalar else {
                error(node.location, "a key must be a plain value, not \(node.kindDescription)")
                frame.skipValue = true
                return
            }
            if scalar.value != "<<" || scalar.style != .plain, let first = frame.firstLocation(of: scalar.value) {
                error(scalar.location, "duplicate key \(quoted(scalar.value)) (first defined at line \(first.line))")
                frame.skipValue = true
                return
            }
            frame.pendingKey = scalar
            return
        }
        frame.pendingKey = nil
        frame.weight += 1 + node.weight
        if key.value == "<<" && key.style == .plain {
            // Merge key: the explicit keys of this mapping win, whatever their position.
            frame.merges.append((at: frame.entries.count, value: node))
            return
        }
        frame.append(YAMLNode.Entry(key: key, value: node))
    }

    private mutating func finishMapping(_ frame: Frame) -> YAMLNode {
        guard !frame.merges.isEmpty else {
            return YAMLNode(.mapping(frame.entries), location: frame.location, weight: frame.weight)
        }
        var taken = Set(frame.entries.map(\.key.value))
        var result: [YAMLNode.Entry] = []
        var next = 0
        for merge in frame.merges {
            while next < merge.at {
                result.append(frame.entries[next])
                next += 1
            }
            let sources: [YAMLNode]
            switch merge.value.content {
            case .mapping: sources = [merge.value]
            case .sequence(let items): sources = items
            case .scalar: sources = [merge.value]
            }
            for source in sources {
                guard let entries = source.entries else {
                    error(source.location, "a merge key (<<) takes a mapping or a list of mappings, not \(source.kindDescription)")
                    continue
                }
                for entry in entries where !taken.contains(entry.key.value) {
                    taken.insert(entry.key.value)
                    result.append(entry)
                }
            }
        }
        result.append(contentsOf: frame.entries[next...])
        return YAMLNode(.mapping(result), location: frame.location, weight: frame.weight)
    }

    private mutating func scalarKind(tag: String, value: String, style: YAMLScalar.Style, at location: SourceLocation) -> YAMLScalar.Kind? {
        let kind: YAMLScalar.Kind
        switch tag {
        case "!", "tag:yaml.org,2002:str": return .string
        case "tag:yaml.org,2002:int": kind = .int
        case "tag:yaml.org,2002:float": kind = .float
        case "tag:yaml.org,2002:bool": kind = .bool
        case "tag:yaml.org,2002:null": kind = .null
        default:
            error(location, "the tag \(quoted(tag)) is not supported")
            return nil
        }
        let natural = YAMLScalar.resolve(value, style: .plain)
        guard natural == kind || (kind == .float && natural == .int) else {
            error(location, "\(quoted(value)) is not a valid \(tag.split(separator: ":").last!)")
            return nil
        }
        return kind
    }

    private mutating func reportSyntaxError(_ parser: yaml_parser_t) {
        let problem = parser.problem.map { String(cString: $0) } ?? "invalid YAML"
        var location: SourceLocation
        if parser.error == YAML_READER_ERROR {
            // libyaml points at the bad trailing byte; the character starts at its leading byte.
            var offset = parser.problem_offset
            if problem.contains("trailing") || problem.contains("incomplete") {
                var back = offset
                while back > 0, offset - back < 3, back <= bytes.count {
                    back -= 1
                    if bytes[back] >= 0xC0 {
                        offset = back
                        break
                    }
                }
            }
            location = locationOf(byteOffset: offset)
        } else {
            location = SourceLocation(line: parser.problem_mark.line + 1, column: parser.problem_mark.column + 1)
        }
        var message = problem
        if let context = parser.context.map({ String(cString: $0) }), context != "while scanning for the next token" {
            message += " (\(context) at line \(parser.context_mark.line + 1), column \(parser.context_mark.column + 1))"
        }
        var hint: String?
        if parser.error == YAML_READER_ERROR {
            message = problem.contains("control characters")
                ? "the file contains a control character, which YAML does not allow"
                : "the file is not valid UTF-8: \(problem)"
        } else if character(at: location) == UInt8(ascii: "\t") {
            message = "found a tab, which YAML does not allow for indentation"
            hint = "indent with spaces"
        } else if containsTab(onLine: location.line) || containsTab(onLine: location.line - 1) {
            hint = "a tab indents this line or the one above; YAML indents with spaces only"
        }
        if location.line < 1 { location = SourceLocation(line: 1, column: 1) }
        error(location, message, hint: hint)
    }

    /// Line and column of a byte offset, counting columns in characters as libyaml does.
    private func locationOf(byteOffset: Int) -> SourceLocation {
        var line = 1
        var column = 1
        var i = 0
        let end = min(byteOffset, bytes.count)
        while i < end {
            let b = bytes[i]
            if b == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if b & 0xC0 != 0x80 {
                column += 1
            }
            i += 1
        }
        return SourceLocation(line: line, column: column)
    }

    private func lineRange(_ line: Int) -> Range<Int>? {
        guard line >= 1 else { return nil }
        var current = 1
        var start = 0
        var i = 0
        while i < bytes.count, current < line {
            if bytes[i] == UInt8(ascii: "\n") {
                current += 1
                start = i + 1
            }
            i += 1
        }
        guard current == line else { return nil }
        var end = start
        while end < bytes.count, bytes[end] != UInt8(ascii: "\n") { end += 1 }
        return start..<end
    }

    private func character(at location: SourceLocation) -> UInt8? {
        guard let range = lineRange(location.line) else { return nil }
        var column = 1
        for i in range where bytes[i] & 0xC0 != 0x80 {
            if column == location.column { return bytes[i] }
            column += 1
        }
        return nil
    }

    private func containsTab(onLine line: Int) -> Bool {
        guard let range = lineRange(line) else { return false }
        // Only leading whitespace matters: a tab inside a value is fine.
        for i in range {
            if bytes[i] == UInt8(ascii: "\t") { return true }
            if bytes[i] != UInt8(ascii: " ") { return false }
        }
        return false
    }

    private func string(_ pointer: UnsafeMutablePointer<UInt8>?, length: Int) -> String {
        guard let pointer, length > 0 else { return "" }
        return String(decoding: UnsafeBufferPointer(start: pointer, count: length), as: UTF8.self)
    }
}
