extension Validator {
    static let loggingKeys = ["maxSize", "maxFiles"]

    /// `logging: {maxSize, maxFiles}`.
    func checkLogging(_ node: YAMLNode, _ path: String) -> Logging {
        var logging = Logging()
        guard let fields = fields(of: node, path: path, known: Validator.loggingKeys, what: "log rotation settings") else {
            return logging
        }
        if let e = fields["maxSize"] {
            let p = join(path, "maxSize")
            if let size = size(e.value, p) {
                if size.bytes != 0 && size.bytes < Logging.minimumSize {
                    error(e.value.location, p, "\(quoted(size.text)) is less than 4Ki, too little for a log file",
                          hint: "use e.g. 10Mi, or 0 for one file without a bound")
                } else {
                    logging.maxSize = size
                }
            }
        }
        if let e = fields["maxFiles"] {
            logging.maxFiles = integer(e.value, join(path, "maxFiles"), in: 1...1000) ?? logging.maxFiles
        }
        return logging
    }
}
