import BerthKernel
import Foundation
import Glibc
import Testing
@testable import Berth

/// Layers written by Python's tarfile to break out of the store; each must be refused (or,
/// where the layout makes it harmless, land inside its own layer), naming image, layer and
/// entry, with nothing outside the store changed and no layer left half there.
@Suite("Hostile layers", .enabled(if: geteuid() == 0, "unpacking layers needs root"))
struct HostileLayerTests {
    /// A fixture directory with `outside/secret`, a store, and a way to check both afterwards.
    final class World {
        let f: ImageFixtures
        let outside: String
        let store: ImageStore
        init(_ tag: String) throws {
            f = try ImageFixtures(tag)
            outside = f.directory + "/outside"
            try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
            try "secret\n".write(toFile: outside + "/secret", atomically: false, encoding: .utf8)
            store = ImageStore(root: f.store)
        }
        deinit { f.close() }

        /// `outside` holds exactly what it held, the store no layer and nothing in tmp.
        func checkUntouched(layersExpected: Int = 0, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: outside)) ?? []
            #expect(names == ["secret"], "outside the store: \(names)", sourceLocation: sourceLocation)
            #expect(FileManager.default.contents(atPath: outside + "/secret") == Data("secret\n".utf8), sourceLocation: sourceLocation)
            let layers = (try? FileManager.default.contentsOfDirectory(atPath: f.store + "/layers")) ?? []
            #expect(layers.count == layersExpected, "layers: \(layers)", sourceLocation: sourceLocation)
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: f.store + "/tmp")) ?? []).isEmpty, sourceLocation: sourceLocation)
            #expect((try? store.images())?.isEmpty == (layersExpected == 0), sourceLocation: sourceLocation)
        }

        func importing(_ name: String, _ layers: [String], wrongDiffID: Bool = false, truncate: Bool = false,
                       compress: String = "", budget: LayerBudget = LayerBudget()) throws -> ImageStoreError? {
            let layout = try f.pythonLayout(name, layers: layers, wrongDiffID: wrongDiffID, truncate: truncate, compress: compress)
            do {
                try store.importImage(.ociLayout(path: layout, selector: nil), budget: budget)
                return nil
            } catch {
                return error
            }
        }
    }

    static func archiveError(_ e: ImageStoreError?) -> ArchiveError? {
        if case .layer(_, _, let a)? = e { return a }
        return nil
    }

    @Test("../ in a name is refused, naming image, layer and entry")
    func dotDot() throws {
        let w = try World("dotdot")
        let e = try w.importing("dotdot", ["add('../../../../outside/pwned', b'x')"])
        guard case .unsafeName(let entry)? = Self.archiveError(e) else { Issue.record("\(String(describing: e))"); return }
        #expect(entry == "../../../../outside/pwned")
        let text = "\(e!)"
        #expect(text.contains("image oci:") && text.contains("layer sha256:") && text.contains("../../../../outside/pwned"))
        w.checkUntouched()
    }

    @Test("an absolute name is refused")
    func absolute() throws {
        let w = try World("absolute")
        let e = try w.importing("abs", ["add('\(w.outside)/pwned', b'x')"])
        guard case .unsafeName? = Self.archiveError(e) else { Issue.record("\(String(describing: e))"); return }
        w.checkUntouched()
    }

    @Test("a symlink planted by an earlier entry is not followed (etc -> outside, then etc/passwd)")
    func plantedSymlink() throws {
        let w = try World("planted")
        for target in [w.outside, "../../../../outside"] {
            let e = try w.importing("planted-\(target.count)", [
                "add('etc', type=tarfile.SYMTYPE, linkname='\(target)'); add('etc/passwd', b'pwned')",
            ])
            guard case .throughSymlink(let entry)? = Self.archiveError(e) else { Issue.record("\(String(describing: e))"); return }
            #expect(entry == "etc/passwd")
        }
        // A hard link through the planted symlink is refused the same way.
        let e = try w.importing("planted-link", [
            "add('etc', type=tarfile.SYMTYPE, linkname='\(w.outside)'); add('x', type=tarfile.LNKTYPE, linkname='etc/secret')",
        ])
        #expect(Self.archiveError(e) != nil)
        w.checkUntouched()
    }

    @Test("a symlink planted by an earlier layer is not on a later layer's path: each layer has its own directory")
    func symlinkAcrossLayers() throws {
        let w = try World("across")
        let e = try w.importing("across", [
            "add('etc', type=tarfile.SYMTYPE, linkname='\(w.outside)')",
            "add('etc/passwd', b'inside')",
        ])
        #expect(e == nil)
        w.checkUntouched(layersExpected: 2)
        let image = try #require(try w.store.images().first)
        let top = w.store.lowerDirectories(of: image)[0]
        #expect(FileManager.default.contents(atPath: top + "/etc/passwd") == Data("inside".utf8))
    }

    @Test("a hard link to a path outside the layer is refused", arguments: ["../../../../outside/secret", "/etc/passwd", "missing"])
    func hardlinkOutside(_ target: String) throws {
        let w = try World("hardlink")
        let e = try w.importing("hardlink", ["add('x', type=tarfile.LNKTYPE, linkname='\(target)')"])
        guard case .badHardlink(let entry, let t)? = Self.archiveError(e) else { Issue.record("\(String(describing: e))"); return }
        #expect(entry == "x" && t == target)
        w.checkUntouched()
        var st = Glibc.stat()
        #expect(lstat(w.outside + "/secret", &st) == 0 && st.st_nlink == 1)
    }

    @Test("an entry that replaces the layer's root is refused (CVE-2021-29136)", arguments: [".", "./", ""])
    func rootReplacement(_ name: String) throws {
        let w = try World("root")
        let e = try w.importing("root", ["add('\(name)', type=tarfile.SYMTYPE, linkname='\(w.outside)'); add('pwned', b'x')"])
        guard case .replacesRoot? = Self.archiveError(e) else { Issue.record("\(String(describing: e))"); return }
        w.checkUntouched()
    }

    @Test("a blob whose bytes do not match its digest is refused before anything is unpacked")
    func digestMismatch() throws {
        let w = try World("digest")
        let layout = try w.f.pythonLayout("digest", layers: ["add('a', b'a')"])
        // Change one layer blob's bytes under its name.
        let blobs = layout + "/blobs/sha256"
        var largest = ""
        var largestSize = 0
        for name in try FileManager.default.contentsOfDirectory(atPath: blobs) {
            let size = (try FileManager.default.attributesOfItem(atPath: "\(blobs)/\(name)")[.size] as? Int) ?? 0
            if size > largestSize { largest = name; largestSize = size }
        }
        let handle = try #require(FileHandle(forUpdatingAtPath: "\(blobs)/\(largest)"))
        try handle.seek(toOffset: 600)
        try handle.write(contentsOf: Data("X".utf8))
        try handle.close()
        #expect {
            try w.store.importImage(.ociLayout(path: layout, selector: nil))
        } throws: { error in
            guard case .digestMismatch(_, let blob, _) = error as? ImageStoreError else { return false }
            return blob == "sha256:" + largest
        }
        w.checkUntouched()
        #expect(!w.store.hasBlob("sha256:" + largest))
    }

    @Test("a truncated layer is refused and leaves no layer behind", arguments: ["", "gzip"])
    func truncated(_ compress: String) throws {
        let w = try World("truncated")
        let e = try w.importing("truncated", ["add('big', b'y' * 100000)"], truncate: true, compress: compress)
        guard case .malformed? = Self.archiveError(e) else { Issue.record("\(String(describing: e))"); return }
        w.checkUntouched()
    }

    // berth links libarchive's gzip and zstd filters only (the OCI layer compressions): a layer in
    // any other compression is not read as tar through a filter it does not have.
    @Test("a bzip2 layer (no OCI media type) is refused as malformed and leaves no layer behind")
    func bzip2() throws {
        let w = try World("bzip2")
        let e = try w.importing("bzip2", ["add('etc/motd', b'hi\\n')"], compress: "bzip2")
        guard case .malformed? = Self.archiveError(e) else { Issue.record("\(String(describing: e))"); return }
        w.checkUntouched()
    }

    @Test("a tar bomb beyond the size budget is refused")
    func tarBomb() throws {
        let w = try World("bomb")
        let e = try w.importing("bomb", ["add('zeros', b'\\\\0' * (8 << 20))"], compress: "gzip", budget: LayerBudget(bytes: 1 << 20))
        guard case .tooLarge(let limit)? = Self.archiveError(e) else { Issue.record("\(String(describing: e))"); return }
        #expect(limit == 1 << 20)
        w.checkUntouched()
        let many = try w.importing("many", ["for i in range(50): add('f%d' % i, b'')"], budget: LayerBudget(entries: 10))
        guard case .tooManyEntries? = Self.archiveError(many) else { Issue.record("\(String(describing: many))"); return }
        w.checkUntouched()
    }

    @Test("a layer whose uncompressed digest is not its diff_id is refused")
    func wrongDiffID() throws {
        let w = try World("diffid")
        let e = try w.importing("diffid", ["add('a', b'a')"], wrongDiffID: true)
        guard case .diffIDMismatch? = e else { Issue.record("\(String(describing: e))"); return }
        w.checkUntouched()
    }

    @Test("device nodes are skipped and counted; fifos and whiteouts are made")
    func devices() throws {
        let w = try World("devices")
        let layout = try w.f.pythonLayout("devices", layers: [
            "i = tarfile.TarInfo('dev/sda'); i.type = tarfile.BLKTYPE; i.devmajor = 8; i.devminor = 0; t.addfile(i);"
                + "i = tarfile.TarInfo('dev/mem'); i.type = tarfile.CHRTYPE; i.devmajor = 1; i.devminor = 1; t.addfile(i);"
                + "add('run/fifo', type=tarfile.FIFOTYPE); add('etc/.wh.gone')",
        ])
        var lines: [String] = []
        let image = try w.store.importImage(.ociLayout(path: layout, selector: nil)) { lines.append($0) }
        #expect(lines.last?.contains("2 device nodes skipped") == true)
        let dir = w.store.lowerDirectories(of: image)[0]
        #expect(access(dir + "/dev/sda", F_OK) != 0 && access(dir + "/dev/mem", F_OK) != 0)
        var st = Glibc.stat()
        #expect(lstat(dir + "/run/fifo", &st) == 0 && st.st_mode & S_IFMT == S_IFIFO)
        #expect(lstat(dir + "/etc/gone", &st) == 0 && st.st_mode & S_IFMT == S_IFCHR && st.st_rdev == 0)
        w.checkUntouched(layersExpected: 1)
    }
}
