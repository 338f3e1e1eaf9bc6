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

    /// A fresh temporary directory.
    static func temporaryDirectory() throws -> String {
        var template = Array((NSTemporaryDirectory() + "sluice-test-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw Missing(description: "mkdtemp failed") }
        return String(cString: made)
    }
}
