#if canImport(Glibc)
import Glibc
#endif

import BPFVM

/// Small file-system and environment helpers for tests (no Foundation needed).
enum TestFiles {
    struct Failure: Error, CustomStringConvertible { var description: String }

    static func list(_ directory: String) throws -> [String] {
        guard let dir = opendir(directory) else { throw Failure(description: "cannot open directory \(directory)") }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    static func read(_ path: String) throws -> String {
        guard let file = fopen(path, "rb") else { throw Failure(description: "cannot open \(path)") }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n <= 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

enum Environment {
    static func value(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
}


enum TestHelpers {
    /// Helper 5 (`bpf_ktime_get_ns`) as the conformance suite expects it: present and returning normally.
    static let ktime: HelperFunction = { env, _, _, _, _, _ in
        env!.assumingMemoryBound(to: ExecutionEnvironment.self).pointee.clockNanos
    }
    static func resolve(_ id: Int32) -> HelperFunction? { id == 5 ? ktime : nil }
}
