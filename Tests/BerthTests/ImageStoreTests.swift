import BerthKernel
import Foundation
import Glibc
import Testing
@testable import Berth

@Suite("Image store", .enabled(if: geteuid() == 0, "unpacking layers needs root (owners, whiteout devices, trusted.* xattrs)"))
struct ImageStoreTests {
    static func stat(_ path: String) -> Glibc.stat? {
        var st = Glibc.stat()
        return lstat(path, &st) == 0 ? st : nil
    }

    static func xattr(_ path: String, _ name: String) -> String? {
        // getfattr is not on every machine; python3 is (the schema tests need it too).
        let out = try? ImageFixtures.sh("python3 -c 'import os,sys; print(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False).decode())' '\(path)' '\(name)'", in: "/")
        return out?.trimmingCharacters(in: .newlines)
    }

    static func entries(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
    }

    @Test("an umoci layout imports: layers once each, in overlayfs form, checked against diff_ids")
    func importsUmociLayout() throws {
        let f = try ImageFixtures("layout")
        defer { f.close() }
        let layout = try f.umociLayout()
        let store = ImageStore(root: f.store)
        var lines: [String] = []
        let app = try store.importImage(.ociLayout(path: layout, selector: .tag("app")), name: "web:1.0") { lines.append($0) }
        #expect(app.names == ["docker.io/library/web:1.0"])
        try #require(app.layers.count == 3)
        #expect(lines.count == 3)
        let dirs = store.lowerDirectories(of: app)
        let (top, middle, base) = (dirs[0], dirs[1], dirs[2])
        // Base: the files as umoci packed them, owners and modes kept.
        #expect(FileManager.default.contents(atPath: base + "/data/old") == Data("old\n".utf8))
        #expect(Self.stat(base + "/bin/busybox").map { $0.st_mode & 0o111 != 0 } == true)
        #expect(Self.stat(base + "/bin/sh").map { $0.st_mode & S_IFMT == S_IFLNK } == true)
        // Layer 2: the deleted file is a whiteout device 0:0; the hard link shares the inode.
        let whiteout = try #require(Self.stat(middle + "/gone"))
        #expect(whiteout.st_mode & S_IFMT == S_IFCHR && whiteout.st_rdev == 0)
        #expect(Self.stat(middle + "/hello")?.st_ino == Self.stat(middle + "/hello-link")?.st_ino)
        // Layer 3: the opaque directory carries overlayfs's xattr, and no marker file.
        #expect(Self.xattr(top + "/data", "trusted.overlay.opaque") == "y")
        #expect(Self.entries(top + "/data") == ["new"])
        // The config is there to read.
        let config = try store.config(of: app)
        #expect(config.config?.Entrypoint == ["/bin/sh", "-c"])
        #expect(config.config?.Env?.contains("IMAGE_VAR=image") == true)
        // Found by name and by digest prefix.
        #expect(try store.image("web:1.0")?.digest == app.digest)
        #expect(try store.image(String(app.digest.dropFirst(7).prefix(12)))?.digest == app.digest)
        // Nothing left in tmp.
        #expect(Self.entries(f.store + "/tmp").isEmpty)
    }

    @Test("a second image shares the base layer's directory; prune frees only what nothing references")
    func sharedBaseAndPrune() throws {
        let f = try ImageFixtures("shared")
        defer { f.close() }
        let layout = try f.umociLayout()
        let store = ImageStore(root: f.store)
        let app = try store.importImage(.ociLayout(path: layout, selector: .tag("app")), name: "app:1")
        var lines: [String] = []
        let other = try store.importImage(.ociLayout(path: layout, selector: .tag("other")), name: "other:1") { lines.append($0) }
        #expect(app.layers[0] == other.layers[0])
        #expect(lines.first?.hasSuffix("already unpacked") == true)
        #expect(Self.entries(f.store + "/layers").count == 4) // 3 of app + 1 of other
        let otherOnly = try #require(store.layerDirectory(other.layers[1]))

        try store.remove("other:1", users: [:])
        let pruned = try store.prune()
        #expect(pruned.layers == [other.layers[1]])
        #expect(pruned.bytes > 0)
        #expect(access(otherOnly, F_OK) != 0)
        for dir in store.lowerDirectories(of: app) { #expect(access(dir, F_OK) == 0) }
        #expect(try store.prune() == ImageStore.Pruned())
    }

    @Test("an image in use is not removed")
    func inUse() throws {
        let f = try ImageFixtures("inuse")
        defer { f.close() }
        let store = ImageStore(root: f.store)
        let app = try store.importImage(.ociLayout(path: try f.umociLayout(), selector: .tag("app")), name: "app:1")
        #expect(throws: ImageStoreError.self) { try store.remove("app:1", users: [app.digest: ["demo/web"]]) }
        #expect(try store.image("app:1") != nil)
        #expect(throws: ImageStoreError.self) { try store.remove("nope:1", users: [:]) }
    }

    @Test("skopeo's docker-archive of the layout imports with the same layers")
    func dockerArchive() throws {
        let f = try ImageFixtures("docker")
        defer { f.close() }
        let layout = try f.umociLayout()
        let archive = try f.dockerArchive(from: layout, tag: "app", name: "example.com/app:2")
        let store = ImageStore(root: f.store)
        let fromLayout = try store.importImage(.ociLayout(path: layout, selector: .tag("app")))
        let fromArchive = try store.importImage(.dockerArchive(path: archive, name: nil))
        #expect(fromArchive.names == ["example.com/app:2"])
        #expect(fromArchive.layers == fromLayout.layers)
        #expect(try store.config(of: fromArchive).config?.Cmd == ["echo from-image"])
        // By the name inside the archive too, and a name it does not hold is an error.
        #expect(try store.importImage(.dockerArchive(path: archive, name: "example.com/app:2")).digest == fromArchive.digest)
        #expect(throws: ImageStoreError.self) { try store.importImage(.dockerArchive(path: archive, name: "example.com/app:3")) }
    }

    @Test("an OCI archive (a tar of the layout) imports as the layout does")
    func ociArchive() throws {
        let f = try ImageFixtures("ociarchive")
        defer { f.close() }
        let layout = try f.umociLayout()
        try ImageFixtures.sh("tar -C layout -cf layout.tar .", in: f.directory)
        let store = ImageStore(root: f.store)
        let a = try store.importImage(.ociArchive(path: f.directory + "/layout.tar", selector: .tag("app")))
        let b = try store.importImage(.ociLayout(path: layout, selector: .tag("app")))
        #expect(a.digest == b.digest)
        #expect(try store.peekManifest(.ociLayout(path: layout, selector: .tag("app"))) == a.digest)
    }

    @Test("gzip, zstd and plain layers give the same tree and diff_id")
    func compressions() throws {
        let f = try ImageFixtures("compress")
        defer { f.close() }
        let store = ImageStore(root: f.store)
        let plain = try f.pythonLayout("plain", layers: ["add('etc/motd', b'hi\\n')"])
        let gzip = try f.pythonLayout("gzip", layers: ["add('etc/motd', b'hi\\n')"], compress: "gzip")
        let a = try store.importImage(.ociLayout(path: plain, selector: nil))
        let b = try store.importImage(.ociLayout(path: gzip, selector: nil))
        #expect(a.layers == b.layers)
        // zstd: recompress the plain layout's layer with the zstd tool, as a registry might serve it.
        try ImageFixtures.sh("""
            cp -r plain zstd && cd zstd && python3 - <<'EOF'
            import hashlib, json, os, subprocess
            m = json.load(open('index.json'))['manifests'][0]['digest'][7:]
            man = json.load(open('blobs/sha256/' + m))
            l = man['layers'][0]
            data = subprocess.run(['zstd', '-q', '-c', 'blobs/sha256/' + l['digest'][7:]], capture_output=True, check=True).stdout
            h = hashlib.sha256(data).hexdigest(); open('blobs/sha256/' + h, 'wb').write(data)
            l.update(digest='sha256:' + h, size=len(data), mediaType='application/vnd.oci.image.layer.v1.tar+zstd')
            raw = json.dumps(man).encode(); mh = hashlib.sha256(raw).hexdigest(); open('blobs/sha256/' + mh, 'wb').write(raw)
            json.dump({'schemaVersion': 2, 'manifests': [{'mediaType': man['mediaType'], 'digest': 'sha256:' + mh, 'size': len(raw)}]}, open('index.json', 'w'))
            EOF
            """, in: f.directory)
        let c = try store.importImage(.ociLayout(path: f.directory + "/zstd", selector: nil))
        #expect(c.layers == a.layers)
        #expect(c.digest != a.digest)
    }
}
