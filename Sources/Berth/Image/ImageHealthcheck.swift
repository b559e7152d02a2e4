import BerthSpec

extension OCI.ImageConfig.HealthConfig {
    /// The check this image config describes, with Docker's defaults for what is 0 or
    /// absent (interval and timeout 30s, retries 3, start period 0, start interval 5s);
    /// nil for `["NONE"]`, an empty or unknown test.
    public var healthcheck: Healthcheck? {
        guard let words = Test, let kind = words.first else { return nil }
        let test: Healthcheck.Test
        switch kind {
        case "CMD" where words.count > 1: test = .command(Array(words.dropFirst()))
        case "CMD-SHELL" where words.count == 2: test = .shell(words[1])
        default: return nil
        }
        var check = Healthcheck(test: test)
        func span(_ nanoseconds: Int64?, or fallback: TimeSpan) -> TimeSpan {
            guard let nanoseconds, nanoseconds > 0 else { return fallback }
            // Below berth's 1 ms resolution a span rounds up, never to 0 (which would mean "default").
            return TimeSpan(milliseconds: max(1, Int((nanoseconds + 999_999) / 1_000_000)))
        }
        check.interval = span(Interval, or: check.interval)
        check.timeout = span(Timeout, or: check.timeout)
        check.startPeriod = span(StartPeriod, or: check.startPeriod)
        check.startInterval = span(StartInterval, or: check.startInterval)
        if let retries = Retries, retries > 0 { check.retries = retries }
        return check
    }
}

extension Engine {
    /// An image's own Healthcheck is the check of a container from it that writes none
    /// (Docker's rule); `healthcheck: {test: ["NONE"]}` in the spec turns it off. Reads
    /// the image's config from the store only; an image not there yet gets it once imported.
    func withImageHealthchecks(_ spec: Spec) -> Spec {
        var spec = spec
        for i in spec.containers.indices where spec.containers[i].healthcheck == nil
            && spec.containers[i].healthcheckNone != true {
            guard let source = spec.containers[i].image, let digest = resolveImage(source),
                  let image = try? images.image(digest),
                  let check = (try? images.config(of: image))?.config?.Healthcheck?.healthcheck else { continue }
            spec.containers[i].healthcheck = check
        }
        return spec
    }
}
