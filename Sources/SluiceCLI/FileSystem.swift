#if canImport(Glibc)
import Glibc
#endif

/// The few file operations the CLI needs, with errors that name the path.
enum FileSystem {
    static func readBytes(_ path: String) throws(CLIError) -> [UInt8] {
        let file: UnsafeMutablePointer<FILE>? = path == "-" ? fdopen(dup(0), "rb") : fopen(path, "rb")
        guard let file else { throw CLIError("\(path): \(String(cString: strerror(errno)))") }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n > 0 { bytes.append(contentsOf: buffer[0..<n]) }
            if n < buffer.count {
                if ferror(file) != 0 { throw CLIError("\(path): read error") }
                break
            }
        }
        return bytes
    }

    static func readText(_ path: String) throws(CLIError) -> String {
        String(decoding: try readBytes(path), as: UTF8.self)
    }

    static func writeBytes(_ bytes: [UInt8], to path: String) throws(CLIError) {
        guard let file = fopen(path, "wb") else { throw CLIError("\(path): \(String(cString: strerror(errno)))") }
        let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        let closed = fclose(file)
        guard written == bytes.count, closed == 0 else { throw CLIError("\(path): write failed") }
    }

    static func listDirectory(_ path: String) throws(CLIError) -> [String] {
        guard let dir = opendir(path) else { throw CLIError("\(path): \(String(cString: strerror(errno)))") }
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
}
