import Foundation

/// OCI layouts made by umoci, as a user's images are: one image per tag, each layer a tar of
/// the files given.
enum ImageFactory {
    /// Makes `layout:tag` with one layer per dictionary (path -> content) and returns the
    /// layout's path. `bigLayers` adds layers of that many random bytes.
    static func make(layout: String, tag: String, layers: [[String: String]], architecture: String = "amd64",
                     bigLayers: [Int] = [], busybox: Bool = false, scratch: String) throws {
        if !FileManager.default.fileExists(atPath: layout + "/index.json") {
            try sh(["/usr/bin/umoci", "init", "--layout", layout])
        }
        try sh(["/usr/bin/umoci", "new", "--image", "\(layout):\(tag)"])
        try sh(["/usr/bin/umoci", "config", "--image", "\(layout):\(tag)", "--architecture", architecture, "--os", "linux",
                "--config.cmd", "/bin/sh"])
        var n = 0
        func addLayer(_ fill: (String) throws -> Void) throws {
            n += 1
            let dir = scratch + "/layer-\(tag)-\(n)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try fill(dir)
            let tar = dir + ".tar"
            try sh(["/usr/bin/tar", "-C", dir, "--owner=0", "--group=0", "-cf", tar, "."])
            try sh(["/usr/bin/umoci", "raw", "add-layer", "--image", "\(layout):\(tag)", tar])
            try? FileManager.default.removeItem(atPath: dir)
            try? FileManager.default.removeItem(atPath: tar)
        }
        if busybox {
            // A runnable base: busybox-static and the applets a test uses.
            try addLayer { dir in
                try FileManager.default.createDirectory(atPath: dir + "/bin", withIntermediateDirectories: true)
                try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: dir + "/bin/busybox")
                for applet in ["sh", "sleep", "cat"] {
                    try FileManager.default.createSymbolicLink(atPath: dir + "/bin/" + applet, withDestinationPath: "busybox")
                }
                for d in ["proc", "dev", "sys", "tmp", "etc"] {
                    try FileManager.default.createDirectory(atPath: dir + "/" + d, withIntermediateDirectories: true)
                }
            }
        }
        for files in layers {
            try addLayer { dir in
                for (path, content) in files {
                    let full = dir + "/" + path
                    try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                    try content.write(toFile: full, atomically: false, encoding: .utf8)
                }
            }
        }
        for size in bigLayers {
            try addLayer { dir in
                try sh(["/bin/sh", "-c", "head -c \(size) /dev/urandom > '\(dir)/blob.bin'"])
            }
        }
    }

    /// Adds to `layout` an OCI index `tag` over the images `tags` (with their platforms),
    /// as a multi-platform image is made.
    static func makeIndex(layout: String, tag: String, over tags: [(tag: String, architecture: String)]) throws {
        let indexURL = URL(fileURLWithPath: layout + "/index.json")
        var top = try JSONSerialization.jsonObject(with: Data(contentsOf: indexURL)) as! [String: Any]
        var manifests = top["manifests"] as! [[String: Any]]
        var entries: [[String: Any]] = []
        for (t, arch) in tags {
            guard var m = manifests.first(where: { ($0["annotations"] as? [String: String])?["org.opencontainers.image.ref.name"] == t }) else {
                throw FixtureError("no tag \(t) in \(layout)")
            }
            m["annotations"] = nil
            m["platform"] = ["os": "linux", "architecture": arch]
            entries.append(m)
        }
        let index: [String: Any] = ["schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries]
        let data = try JSONSerialization.data(withJSONObject: index, options: [.sortedKeys])
        let tmp = layout + "/index-blob.tmp"
        try data.write(to: URL(fileURLWithPath: tmp))
        let hex = String(try sh(["/usr/bin/sha256sum", tmp]).prefix(64))
        try FileManager.default.moveItem(atPath: tmp, toPath: layout + "/blobs/sha256/" + hex)
        manifests.append(["mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:" + hex, "size": data.count,
                          "annotations": ["org.opencontainers.image.ref.name": tag]])
        top["manifests"] = manifests
        try JSONSerialization.data(withJSONObject: top, options: [.sortedKeys]).write(to: indexURL)
    }

    /// The manifest digest `layout:tag` names.
    static func digest(layout: String, tag: String) throws -> String {
        let top = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: layout + "/index.json"))) as! [String: Any]
        let manifests = top["manifests"] as! [[String: Any]]
        guard let m = manifests.last(where: { ($0["annotations"] as? [String: String])?["org.opencontainers.image.ref.name"] == tag }) else {
            throw FixtureError("no tag \(tag)")
        }
        return m["digest"] as! String
    }
}
