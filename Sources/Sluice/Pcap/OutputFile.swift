#if canImport(Glibc)
import Glibc
#endif

/// A file written through one large buffer: one `write(2)` per buffer-full, not per record, so that writing a capture
/// or a results file costs a few system calls per thousand packets.
///
/// Atomic mode writes `PATH.tmp` and renames it to `PATH` in `close()`; if the owner goes away without `close()` (an
/// error, an interrupted run) the temporary file is removed, so no half-written file is ever presented as complete.
struct OutputFile: ~Copyable {
    /// The path the finished file will have.
    let path: String
    /// The path being written: `path + ".tmp"` in atomic mode, else `path`.
    let writePath: String
    let atomically: Bool
    private var fd: Int32
    private let buffer: UnsafeMutableRawPointer
    private let capacity: Int
    private var count = 0

    init(path: String, atomically: Bool, bufferSize: Int = 1 << 16) throws(SystemError) {
        let writePath = atomically ? path + ".tmp" : path
        self.fd = try SystemError.check("open", context: writePath) {
            open(writePath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        }
        self.path = path
        self.writePath = writePath
        self.atomically = atomically
        self.capacity = max(bufferSize, 64)
        self.buffer = .allocate(byteCount: capacity, alignment: 16)
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

    private func writeAll(_ start: UnsafeRawPointer, _ length: Int) throws(SystemError) {
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
            let code = errno
            if atomically { _ = unlink(writePath) }
            // close(2) must not be retried on EINTR on Linux; the descriptor is gone either way.
            if code != EINTR { throw SystemError(call: "close", errno: code, context: writePath) }
        }
        if atomically {
            let tmp = writePath
            let final = path
            do {
                try SystemError.check("rename", context: "\(tmp) → \(final)") { rename(tmp, final) }
            } catch {
                _ = unlink(tmp)
                throw error
            }
        }
    }
}
