#if canImport(Glibc)
import Glibc
import Sluice
#endif

/// The few file operations the CLI needs, with errors that name the path.
enum FileSystem {
    /// Reads a whole input file, of at most `limit` bytes: a regular file, a FIFO (`<(…)`) or `-` (standard input).
    /// Directories, devices (`/dev/zero` would never end) and sockets are refused, as is an empty input unless
    /// `allowEmpty`; every error names the path and says what is wrong.
    static func readBytes(_ path: String, limit: Int = 64 << 20, allowEmpty: Bool = false) throws(CLIError) -> [UInt8] {
        let fd = path == "-" ? dup(0) : open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CLIError("\(path): \(Errno.current.description)") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw CLIError("\(path): \(Errno.current.description)") }
        let name = path == "-" ? "standard input" : path
        switch info.st_mode & S_IFMT {
        case S_IFREG, S_IFIFO: break
        case S_IFDIR: throw CLIError("\(name): is a directory, not a file")
        case S_IFCHR, S_IFBLK: throw CLIError("\(name): is a device, not a file (a regular file, FIFO or '-' is read)")
        default: throw CLIError("\(name): is not a regular file or a FIFO")
        }
        if info.st_mode & S_IFMT == S_IFREG && Int(info.st_size) > limit {
            throw CLIError("\(name): \(info.st_size) bytes is larger than the limit of \(limit >> 20) MiB for this input")
        }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if Errno.current == .interrupted { continue }
                throw CLIError("\(name): read error: \(Errno.current.description)")
            }
            if n == 0 { break }
            guard bytes.count + n <= limit else {
                throw CLIError("\(name): more than the limit of \(limit >> 20) MiB for this input")
            }
            bytes.append(contentsOf: buffer[0..<n])
        }
        if bytes.isEmpty && !allowEmpty { throw CLIError("\(name): is empty") }
        return bytes
    }

    static func readText(_ path: String) throws(CLIError) -> String {
        String(decoding: try readBytes(path), as: UTF8.self)
    }

    static func writeBytes(_ bytes: [UInt8], to path: String) throws(CLIError) {
        guard let file = fopen(path, "wb") else { throw CLIError("\(path): \(Errno.current.description)") }
        let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        let closed = fclose(file)
        guard written == bytes.count, closed == 0 else { throw CLIError("\(path): write failed") }
    }

    static func listDirectory(_ path: String) throws(CLIError) -> [String] {
        guard let dir = opendir(path) else { throw CLIError("\(path): \(Errno.current.description)") }
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
