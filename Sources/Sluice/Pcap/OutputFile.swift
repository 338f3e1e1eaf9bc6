#if canImport(Glibc)
import Glibc
#endif

/// A file written through one large buffer: one `write(2)` per buffer-full, not per record, so that writing a capture
/// or a results file costs a few system calls per thousand packets.
///
/// Where the bytes go follows what Unix tools do with an output path (`OutputFile.Destination`):
///
/// - `-` is standard output;
/// - a regular file, or a path that does not exist yet, is written atomically: to a new temporary file next to it
///   (`PATH.tmp`, or `PATH.N.tmp` when that name is taken — an existing file is never truncated or replaced by the
///   temporary), renamed over `PATH` in `close()` with the mode of the file it replaces. If the owner goes away
///   without `close()` (an error, an interrupted run) the temporary file is removed, so no half-written file is ever
///   presented as complete;
/// - a symbolic link is followed: the link stays, and its target is treated as above (atomic when it is a regular
///   file or does not exist, in place otherwise);
/// - a FIFO, a character or block device (`/dev/null`, `/dev/stdout`) or a socket is written in place, never
///   truncated or replaced;
/// - a directory is refused.
///
/// `atomically: false` writes every kind in place (regular files are truncated).
struct OutputFile: ~Copyable {
    /// How an output path is written.
    enum Destination: Equatable, Sendable {
        /// Standard output (`-`).
        case standardOutput
        /// A new file at `temporary`, renamed to `final` by `close()`.
        case atomic(temporary: String, final: String)
        /// The path itself, opened for writing (FIFOs, devices, or `atomically: false`).
        case inPlace
    }

    /// The path the finished file will have (as given: for a symbolic link, the link).
    let path: String
    /// The path being written: the temporary file in atomic mode, else `path`.
    let writePath: String
    let destination: Destination
    var atomically: Bool { if case .atomic = destination { true } else { false } }
    private var fd: Int32
    private let buffer: UnsafeMutableRawPointer
    private let capacity: Int
    private var count = 0
    private var flushedCount = 0

    init(path: String, atomically: Bool, bufferSize: Int = 1 << 16) throws(SystemError) {
        let opened = try Self.open(path, atomically: atomically)
        self.fd = opened.fd
        self.destination = opened.destination
        if case .atomic(let temporary, _) = opened.destination { self.writePath = temporary } else { self.writePath = path }
        self.path = path
        self.capacity = max(bufferSize, 64)
        self.buffer = .allocate(byteCount: capacity, alignment: 16)
    }

    /// Opens `path` as the type's documentation describes.
    private static func open(_ path: String, atomically: Bool) throws(SystemError) -> (fd: Int32, destination: Destination) {
        if path == "-" {
            // A duplicate, so that closing the output never closes the process's standard output.
            let fd = try SystemError.check("dup", context: "standard output") { fcntl(1, F_DUPFD_CLOEXEC, 0) }
            return (fd, .standardOutput)
        }
        guard !path.isEmpty else { throw SystemError(call: "open", errno: ENOENT, context: "(empty path)") }
        var info = stat()
        // stat follows symbolic links: the kind of the link's target decides, and the link itself is kept.
        let exists = stat(path, &info) == 0
        if !exists && Errno.current != .noEntry { throw SystemError(call: "stat", errno: Errno.current.rawValue, context: path) }
        let kind = info.st_mode & S_IFMT
        if exists && kind == S_IFDIR { throw SystemError(call: "open", errno: EISDIR, context: path) }
        if !atomically || (exists && kind != S_IFREG) {
            let flags = O_WRONLY | O_CLOEXEC | (exists && kind != S_IFREG ? 0 : O_CREAT | O_TRUNC)
            let fd = try SystemError.check("open", context: path) { Glibc.open(path, flags, 0o644) }
            return (fd, .inPlace)
        }
        // Atomic: the temporary file goes next to the file that will be replaced (a link's target), so that rename(2)
        // stays within one file system and the link is not replaced by a regular file.
        let final = try resolvedTarget(path)
        let mode: mode_t = exists ? info.st_mode & 0o7777 : 0o666
        var attempt = 0
        while true {
            let temporary = attempt == 0 ? final + ".tmp" : final + ".\(attempt).tmp"
            let fd = Glibc.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
            if fd >= 0 {
                // O_CREAT applies the umask; a replaced file keeps its own mode.
                if exists { _ = fchmod(fd, mode) }
                return (fd, .atomic(temporary: temporary, final: final))
            }
            let code = Errno.current.rawValue
            if code == EINTR { continue }
            guard code == EEXIST, attempt < 100 else {
                throw SystemError(call: "open", errno: code, context: temporary)
            }
            attempt += 1
        }
    }

    /// The file a path names once symbolic links are followed (a dangling link: the path it points to), so that
    /// atomic replacement keeps the link. Other paths are returned as they are.
    private static func resolvedTarget(_ path: String) throws(SystemError) -> String {
        var current = path
        for _ in 0..<40 {  // the kernel's limit on nested links
            var info = stat()
            guard lstat(current, &info) == 0, info.st_mode & S_IFMT == S_IFLNK else { return current }
            var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let length = readlink(current, &target, Int(PATH_MAX))
            guard length > 0 else { throw SystemError(call: "readlink", errno: Errno.current.rawValue, context: current) }
            let text = String(decoding: target[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if text.hasPrefix("/") {
                current = text
            } else if let slash = current.lastIndex(of: "/") {
                current = String(current[...slash]) + text
            } else {
                current = text
            }
        }
        throw SystemError(call: "open", errno: ELOOP, context: path)
    }

    deinit {
        if fd >= 0 {
            _ = Glibc.close(fd)
            if atomically { _ = unlink(writePath) }
        }
        buffer.deallocate()
    }

    /// Room for `byteCount` contiguous bytes (at most the buffer size), flushing first if needed. The caller writes
    /// into the returned pointer and then calls `commit(byteCount:)`.
    @inline(__always)
    mutating func reserve(_ byteCount: Int) throws(SystemError) -> UnsafeMutableRawPointer {
        if capacity - count < byteCount { try flush() }
        return buffer + count
    }

    @inline(__always)
    mutating func commit(_ byteCount: Int) { count += byteCount }

    /// Bytes written through this file so far (flushed or buffered).
    var writtenCount: Int { flushedCount + count }

    mutating func writeZeros(_ byteCount: Int) throws(SystemError) {
        guard byteCount > 0 else { return }
        let out = try reserve(byteCount)
        out.initializeMemory(as: UInt8.self, repeating: 0, count: byteCount)
        commit(byteCount)
    }

    /// A pcapng option header: code and length, little-endian.
    mutating func writeOptionHeader(code: UInt16, length: Int) throws(SystemError) {
        let out = try reserve(4)
        out.storeBytes(of: code.littleEndian, as: UInt16.self)
        out.storeBytes(of: UInt16(truncatingIfNeeded: length).littleEndian, toByteOffset: 2, as: UInt16.self)
        commit(4)
    }

    /// The largest `reserve` that can succeed.
    var bufferSize: Int { capacity }

    mutating func write(_ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        if bytes.count <= capacity - count {
            (buffer + count).copyMemory(from: base, byteCount: bytes.count)
            count += bytes.count
            return
        }
        try flush()
        if bytes.count <= capacity {
            buffer.copyMemory(from: base, byteCount: bytes.count)
            count = bytes.count
        } else {
            try writeAll(base, bytes.count)
        }
    }

    @inline(__always)
    mutating func write(_ text: StaticString) throws(SystemError) {
        try write(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    @inline(__always)
    mutating func write(byte: UInt8) throws(SystemError) {
        if count == capacity { try flush() }
        buffer.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    /// Writes out what the buffer holds.
    mutating func flush() throws(SystemError) {
        guard count > 0 else { return }
        let pending = count
        count = 0
        try writeAll(UnsafeRawPointer(buffer), pending)
    }

    private mutating func writeAll(_ start: UnsafeRawPointer, _ length: Int) throws(SystemError) {
        flushedCount += length
        var next = start
        var left = length
        while left > 0 {
            let written = try SystemError.check("write", context: writePath) { Glibc.write(fd, next, left) }
            // write(2) returning 0 for a non-zero length means no progress is possible.
            if written == 0 { throw SystemError(call: "write", errno: EIO, context: writePath) }
            next += written
            left -= written
        }
    }

    /// Flushes, closes and (atomic mode) renames the file into place. Any failure is reported and, in atomic mode,
    /// leaves no file at `path`'s temporary name.
    consuming func close() throws(SystemError) {
        try flush()
        let descriptor = fd
        fd = -1
        if Glibc.close(descriptor) != 0 {
            let code = Errno.current.rawValue
            if atomically { _ = unlink(writePath) }
            // close(2) must not be retried on EINTR on Linux; the descriptor is gone either way.
            if code != EINTR { throw SystemError(call: "close", errno: code, context: writePath) }
        }
        if case .atomic(let tmp, let final) = destination {
            do {
                try SystemError.check("rename", context: "\(tmp) → \(final)") { rename(tmp, final) }
            } catch {
                _ = unlink(tmp)
                throw error
            }
        }
    }
}
