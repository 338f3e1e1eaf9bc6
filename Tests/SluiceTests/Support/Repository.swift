import Foundation

/// Paths inside the repository, found from this file's location, and the checks tests share.
enum Repository {
    /// `<repo>` (this file is `<repo>/Tests/SluiceTests/Support/Repository.swift`).
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.path
    }()

    static func path(_ relative: String) -> String { root + "/" + relative }

    /// Programs that have a capture in pcaps/ (and so golden results), sorted.
    static let replayedPrograms: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path("pcaps"))) ?? []
        return names.filter { $0.hasSuffix(".pcap") }.map { String($0.dropLast(5)) }
            .filter { FileManager.default.fileExists(atPath: path("programs/\($0).c")) }.sorted()
    }()

    /// The built object of `programs/NAME.c`; fails the test with a clear message when `programs/build.sh` has not
    /// run.
    static func object(_ name: String) throws -> String {
        let object = path("programs/build/\(name).o")
        guard FileManager.default.fileExists(atPath: object) else {
            throw Missing(description: "\(object) is missing: run programs/build.sh (scripts/test.sh does)")
        }
        return object
    }

    struct Missing: Error, CustomStringConvertible { var description: String }

    static var isRoot: Bool { geteuid() == 0 }

    /// The held-out captures (`scripts/make-pcaps.py --held-out`): generated once per test process, removed when the
    /// process exits.
    static let heldOutCaptures: Result<String, Error> = Result {
        let directory = try temporaryDirectory()
        HeldOutDirectory.path = directory
        atexit { if let path = HeldOutDirectory.path { try? FileManager.default.removeItem(atPath: path) } }
        let out = try Shell.run(
            ["/usr/bin/python3", path("scripts/make-pcaps.py"), "--held-out", directory], timeoutSeconds: 300)
        guard out.status == 0 else {
            throw Missing(description: "make-pcaps.py --held-out failed (is python3-scapy installed?): \(out.stderr)")
        }
        return directory
    }

    /// A fresh temporary directory.
    static func temporaryDirectory() throws -> String {
        var template = Array((NSTemporaryDirectory() + "sluice-test-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw Missing(description: "mkdtemp failed") }
        return String(cString: made)
    }
}

/// Where the held-out captures went, for the exit handler (a C function pointer cannot capture).
enum HeldOutDirectory {
    nonisolated(unsafe) static var path: String?
}
