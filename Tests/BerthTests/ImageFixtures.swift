import Foundation
import Testing

/// Images for tests, made by the tools users make them with: umoci builds OCI layouts,
/// skopeo converts them to docker-archive, Python's tarfile writes hostile layers.
/// Everything lives in one temp directory that `close()` removes.
final class ImageFixtures: @unchecked Sendable {
    let directory: String

    init(_ tag: String) throws {
        signal(SIGPIPE, SIG_IGN)
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("berth-images-\(tag)-\(suffix)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func close() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    var store: String { directory + "/state/images" }

    @discardableResult
    static func sh(_ script: String, in dir: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-ec", script]
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw FixtureError(message: "\(script)\nexit \(p.terminationStatus): \(String(decoding: e, as: UTF8.self))")
        }
        return String(decoding: o, as: UTF8.self)
    }

    struct FixtureError: Error, CustomStringConvertible { var message: String; var description: String { message } }

    /// An OCI layout at `layout` (umoci) with two images sharing their base layer:
    /// - `app`: three layers. 1: busybox, /etc/passwd, /data/{keep,old}, /gone;
    ///   2: /gone deleted (a whiteout), /hello and its hard link /hello-link;
    ///   3 (tarfile, umoci raw add-layer): /data made opaque, holding only /data/new.
    ///   Config: Entrypoint [/bin/sh, -c], Cmd [echo from-image], Env IMAGE_VAR=image, user 65534.
    /// - `other`: the base layer and one of its own (/other).
    func umociLayout() throws -> String {
        let layout = directory + "/layout"
        try Self.sh("""
            umoci init --layout layout
            umoci new --image layout:app
            umoci unpack --image layout:app bundle
            r=bundle/rootfs
            mkdir -p $r/bin $r/etc $r/data $r/proc $r/dev $r/sys $r/tmp && chmod 1777 $r/tmp
            cp /bin/busybox $r/bin/busybox
            for a in sh echo cat ls id sleep test stat; do ln -s busybox $r/bin/$a; done
            printf 'root:x:0:0:root:/root:/bin/sh\\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\\n' > $r/etc/passwd
            printf 'root:x:0:\\nnogroup:x:65534:\\n' > $r/etc/group
            echo keep > $r/data/keep
            echo old > $r/data/old
            echo gone > $r/gone
            umoci repack --refresh-bundle --image layout:app bundle
            umoci tag --image layout:app other
            rm $r/gone
            echo hello > $r/hello
            ln $r/hello $r/hello-link
            umoci repack --refresh-bundle --image layout:app bundle
            python3 -c "
            import io, tarfile
            t = tarfile.open('opaque.tar', 'w', format=tarfile.PAX_FORMAT)
            for name, data in [('data/.wh..wh..opq', b''), ('data/new', b'new\\n')]: i = tarfile.TarInfo(name); i.size = len(data); i.mode = 0o644; t.addfile(i, io.BytesIO(data))
            t.close()
            "
            umoci raw add-layer --image layout:app opaque.tar
            umoci config --image layout:app --config.entrypoint /bin/sh --config.entrypoint -c \\
                --config.cmd 'echo from-image' --config.env IMAGE_VAR=image --config.user 65534 --config.workingdir /data
            rm -rf bundle
            umoci unpack --image layout:other bundle2
            echo other > bundle2/rootfs/other
            umoci repack --image layout:other bundle2
            rm -rf bundle2 opaque.tar
            umoci gc --layout layout
            """, in: directory)
        return layout
    }

    /// `skopeo copy oci:LAYOUT:TAG docker-archive:FILE:NAME`.
    func dockerArchive(from layout: String, tag: String, name: String) throws -> String {
        let file = directory + "/\(tag).docker.tar"
        try Self.sh("skopeo copy --quiet oci:\(layout):\(tag) docker-archive:\(file):\(name)", in: directory)
        return file
    }

    /// An OCI layout with one image whose layers Python's tarfile writes from `layers`
    /// (each a Python expression run with `t`, an open TarFile, and `add(name, data, **attrs)`).
    /// `diffIDs` "bad" writes a wrong diff_id for the last layer; `compress` gzips layers.
    func pythonLayout(_ name: String, layers: [String], wrongDiffID: Bool = false, truncate: Bool = false,
                      compress: String = "") throws -> String {
        let layout = directory + "/" + name
        let script = """
            import bz2, gzip, hashlib, io, json, os, sys, tarfile
            out = sys.argv[1]
            os.makedirs(out + '/blobs/sha256')
            def blob(data):
                h = hashlib.sha256(data).hexdigest()
                open(out + '/blobs/sha256/' + h, 'wb').write(data)
                return 'sha256:' + h, len(data)
            layers, diff_ids = [], []
            for code in json.loads(sys.argv[2]):
                buf = io.BytesIO()
                t = tarfile.open(fileobj=buf, mode='w', format=tarfile.PAX_FORMAT)
                def add(name, data=b'', type=tarfile.REGTYPE, linkname='', mode=0o644, size=None):
                    i = tarfile.TarInfo(name); i.type = type; i.linkname = linkname; i.mode = mode
                    i.size = len(data) if size is None else size
                    t.addfile(i, io.BytesIO(data) if type == tarfile.REGTYPE else None)
                exec(code)
                t.close()
                raw = buf.getvalue()
                diff_ids.append('sha256:' + hashlib.sha256(raw).hexdigest())
                data = gzip.compress(raw) if sys.argv[3] == 'gzip' else bz2.compress(raw) if sys.argv[3] == 'bzip2' else raw
                if sys.argv[5] == 'truncate': data = data[: len(data) // 2]
                d, n = blob(data)
                layers.append({'mediaType': 'application/vnd.oci.image.layer.v1.tar' + ('+gzip' if sys.argv[3] == 'gzip' else ''), 'digest': d, 'size': n})
            if sys.argv[4] == 'wrong': diff_ids[-1] = 'sha256:' + '0' * 64
            config = json.dumps({'architecture': 'amd64', 'os': 'linux', 'config': {'Cmd': ['/bin/true']},
                                 'rootfs': {'type': 'layers', 'diff_ids': diff_ids}}).encode()
            c, cn = blob(config)
            manifest = json.dumps({'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.manifest.v1+json',
                                   'config': {'mediaType': 'application/vnd.oci.image.config.v1+json', 'digest': c, 'size': cn},
                                   'layers': layers}).encode()
            m, mn = blob(manifest)
            json.dump({'imageLayoutVersion': '1.0.0'}, open(out + '/oci-layout', 'w'))
            json.dump({'schemaVersion': 2, 'manifests': [{'mediaType': 'application/vnd.oci.image.manifest.v1+json', 'digest': m, 'size': mn,
                       'annotations': {'org.opencontainers.image.ref.name': 'latest'}}]}, open(out + '/index.json', 'w'))
            """
        try script.write(toFile: directory + "/make-layout.py", atomically: true, encoding: .utf8)
        let json = String(decoding: try JSONSerialization.data(withJSONObject: layers), as: UTF8.self)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", directory + "/make-layout.py", layout, json, compress.isEmpty ? "none" : compress,
                       wrongDiffID ? "wrong" : "right", truncate ? "truncate" : "whole"]
        let err = Pipe()
        p.standardError = err
        try p.run()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw FixtureError(message: "make-layout.py: \(String(decoding: e, as: UTF8.self))") }
        return layout
    }
}
