import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What went wrong setting up or talking over a control socket, in words for the user.
public struct ControlSocketError: Error, CustomStringConvertible, Equatable {
    public var description: String
    init(_ description: String) { self.description = description }
    init(_ system: SystemError) { description = system.description }
}

/// Unix-domain socket plumbing shared by the server and the client, each C call wrapped once.
enum UnixSocket {
    /// `sockaddr_un` for `path`; the path must fit `sun_path` (107 bytes and a NUL).
    static func address(_ path: String) throws(ControlSocketError) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else {
            throw ControlSocketError("control socket path '\(path)' is empty or longer than \(capacity - 1) bytes")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }

    /// `SOCK_STREAM | SOCK_CLOEXEC` (Linux values: glibc's `__socket_type` enum is not visible to this file in
    /// release builds).
    static let streamCloseOnExec: Int32 = 1 | 0o2_000_000

    static func makeSocket() throws(SystemError) -> Int32 {
        try SystemError.check("socket(AF_UNIX)") { socket(AF_UNIX, streamCloseOnExec, 0) }
    }

    /// Connects `fd` to `path`; returns errno on failure (0 on success).
    static func connect(_ fd: Int32, _ path: String) throws(ControlSocketError) -> Int32 {
        var address = try address(path)
        while true {
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            if rc == 0 { return 0 }
            if errno != EINTR { return errno }
        }
    }

    static func setTimeouts(_ fd: Int32, seconds: Int) {
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Writes all of `bytes`; false on error or timeout.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes {
                send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += n
        }
        return true
    }
}

/// Reads newline-terminated lines from a socket, with a length limit.
struct LineReader {
    let fd: Int32
    let limit: Int
    /// When readable, the reader gives up (the server is stopping): an idle client cannot hold up shutdown.
    let wakeFD: Int32
    private var buffer: [UInt8] = []

    init(fd: Int32, limit: Int, wakeFD: Int32 = -1) {
        self.fd = fd
        self.limit = limit
        self.wakeFD = wakeFD
    }

    enum Outcome: Equatable {
        case line([UInt8])
        case end
        case failed(String)
    }

    mutating func next() -> Outcome {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                return .line(line)
            }
            if buffer.count > limit { return .failed("line longer than \(limit) bytes") }
            if wakeFD >= 0 {
                var fds = [
                    pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                    pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0),
                ]
                let rc = poll(&fds, 2, Int32(ControlServer.clientTimeoutSeconds * 1000))
                if rc < 0 && errno == EINTR { continue }
                if rc == 0 { return .failed("timed out waiting for a line") }
                if fds[1].revents != 0 { return .failed("the server is stopping") }
            }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return buffer.isEmpty ? .end : .line(buffer) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { return .failed("timed out waiting for a line") }
                return .failed(String(cString: strerror(errno)))
            }
            buffer += chunk[..<n]
        }
    }
}

/// The control socket of one `sluice run`: a Unix stream socket, mode 0600, served by a thread of its own (never a
/// worker). Requests are handled one at a time, in order, by `handler`.
///
/// Setup refuses a path held by a live instance (a connect succeeds) or by something that is not a socket, and
/// replaces a stale socket a crashed instance left (connect refused). `close()` stops the thread and removes the
/// socket file if it is still the one this server made; call it on every exit path (it also runs from `deinit`).
public final class ControlServer: @unchecked Sendable {
    /// `/run/sluice`: the default socket directory, created mode 0700.
    public static let defaultDirectory = "/run/sluice"
    public static func defaultPath(interface: String) -> String { defaultDirectory + "/" + interface + ".sock" }

    public let path: String
    /// Set when setup replaced a stale socket (worth a note).
    public private(set) var replacedStale = false
    private let listenFD: Int32
    /// A pipe whose write end `close()` uses to wake the serving thread out of poll().
    private let wake: (read: Int32, write: Int32)
    private let handler: (ControlRequest) -> ControlReply
    private var thread: pthread_t?
    private var closed = false
    private let inode: ino_t
    private let device: dev_t
    /// The default socket directory (`/run/sluice`): removed at close when no other instance's socket is left in it.
    private let ownDirectory: String?
    /// Client read/write timeout, so a stuck client cannot stall the server for long.
    static let clientTimeoutSeconds = 10

    /// Creates, binds and listens; `start()` begins serving. `createDirectory`: make the parent directory (mode
    /// 0700) when missing.
    public init(
        path: String, createDirectory: Bool, handler: @escaping (ControlRequest) -> ControlReply
    ) throws(ControlSocketError) {
        self.path = path
        self.handler = handler
        var address = try UnixSocket.address(path)
        let directory = (path as NSString).deletingLastPathComponent
        ownDirectory = createDirectory && !directory.isEmpty ? directory : nil
        if createDirectory && !directory.isEmpty {
            var info = stat()
            if lstat(directory, &info) != 0 {
                if mkdir(directory, 0o700) != 0 && errno != EEXIST {
                    throw ControlSocketError(SystemError(call: "mkdir", errno: errno, context: directory))
                }
                _ = chmod(directory, 0o700)
            } else if info.st_mode & S_IFMT != S_IFDIR {
                throw ControlSocketError("\(directory) exists and is not a directory")
            }
        }
        try Self.clearStale(path, replaced: &replacedStale)

        let fd: Int32
        do { fd = try UnixSocket.makeSocket() } catch { throw ControlSocketError(error) }
        var ok = false
        defer { if !ok { Glibc.close(fd) } }
        // umask makes the socket file 0600 from the start (no window where others could connect).
        let oldMask = umask(0o177)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        let bindErrno = errno
        umask(oldMask)
        guard bound == 0 else {
            throw ControlSocketError(SystemError(call: "bind", errno: bindErrno, context: path))
        }
        var created = stat()
        _ = chmod(path, 0o600)
        _ = chown(path, 0, 0)
        guard lstat(path, &created) == 0 else {
            throw ControlSocketError(SystemError(call: "lstat", errno: errno, context: path))
        }
        guard listen(fd, 8) == 0 else {
            let code = errno
            unlink(path)
            throw ControlSocketError(SystemError(call: "listen", errno: code, context: path))
        }
        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0 else {
            let code = errno
            unlink(path)
            throw ControlSocketError(SystemError(call: "pipe2", errno: code))
        }
        _ = fcntl(pipeFDs[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(pipeFDs[1], F_SETFD, FD_CLOEXEC)
        listenFD = fd
        wake = (pipeFDs[0], pipeFDs[1])
        inode = created.st_ino
        device = created.st_dev
        ok = true
    }

    /// Fails early (before anything is attached) when `path` is served by a live instance or is not a socket.
    public static func checkAvailable(_ path: String) throws(ControlSocketError) {
        _ = try UnixSocket.address(path)
        _ = try probe(path)
    }

    /// Refuses a live socket or a non-socket at `path`; removes a stale socket.
    static func clearStale(_ path: String, replaced: inout Bool) throws(ControlSocketError) {
        guard let code = try probe(path) else { return }
        guard code == ECONNREFUSED else {
            throw ControlSocketError(
                SystemError(call: "connect", errno: code, context: "\(path), probing for a live instance"))
        }
        // Nobody listens: a crashed instance's leftover.
        guard unlink(path) == 0 || Errno.current == .noEntry else {
            throw ControlSocketError(SystemError(call: "unlink", code: .current, context: "stale socket \(path)"))
        }
        replaced = true
    }

    /// What is at `path`: nil for nothing; otherwise it must be a socket nobody serves (a live instance or a
    /// non-socket is an error), and the result is the errno of connecting to it.
    private static func probe(_ path: String) throws(ControlSocketError) -> Int32? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw ControlSocketError(
                "\(path) exists and is not a socket; not replacing it (remove it or use --control)")
        }
        let probe: Int32
        do { probe = try UnixSocket.makeSocket() } catch { throw ControlSocketError(error) }
        defer { Glibc.close(probe) }
        let code = try UnixSocket.connect(probe, path)
        if code == 0 {
            throw ControlSocketError(
                "another sluice instance is serving \(path) (it accepted a connection); stop it first or choose "
                    + "another socket with --control")
        }
        return code
    }

    /// Starts the serving thread.
    public func start() throws(ControlSocketError) {
        guard thread == nil, !closed else { return }
        let box = Unmanaged.passRetained(self)
        var handle = pthread_t()
        let rc = pthread_create(
            &handle, nil,
            { raw in
                let server = Unmanaged<ControlServer>.fromOpaque(raw!).takeRetainedValue()
                server.serve()
                return nil
            }, box.toOpaque())
        guard rc == 0 else {
            box.release()
            throw ControlSocketError(SystemError(call: "pthread_create", errno: rc))
        }
        thread = handle
    }

    private func serve() {
        var fds = [
            pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0),
            pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0),
        ]
        while true {
            fds[0].revents = 0
            fds[1].revents = 0
            let rc = poll(&fds, 2, -1)
            if rc < 0 {
                if errno == EINTR { continue }
                return
            }
            if fds[1].revents != 0 { return }
            guard fds[0].revents & Int16(POLLIN) != 0 else { continue }
            let client = accept(listenFD, nil, nil)
            if client < 0 { continue }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            serveClient(client)
            Glibc.close(client)
        }
    }

    private func serveClient(_ fd: Int32) {
        UnixSocket.setTimeouts(fd, seconds: Self.clientTimeoutSeconds)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        func reply(_ reply: ControlReply) -> Bool {
            guard var data = try? encoder.encode(reply) else { return false }
            data.append(UInt8(ascii: "\n"))
            return UnixSocket.writeAll(fd, Array(data))
        }
        // The socket file is 0600 root; the peer check also refuses a client that got the descriptor otherwise.
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; } (not exported to Swift without _GNU_SOURCE).
        var credentials: (pid: Int32, uid: UInt32, gid: UInt32) = (0, UInt32.max, UInt32.max)
        var length = socklen_t(MemoryLayout<(Int32, UInt32, UInt32)>.size)
        if getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0
            || (credentials.uid != 0 && credentials.uid != geteuid())
        {
            _ = reply(.failure("permission denied: the control socket serves root only (peer uid \(credentials.uid))"))
            return
        }
        var reader = LineReader(fd: fd, limit: ControlProtocol.maximumLineBytes, wakeFD: wake.read)
        let decoder = JSONDecoder()
        while true {
            switch reader.next() {
            case .end: return
            case .failed(let why):
                _ = reply(.failure("bad request: \(why)"))
                return
            case .line(let line):
                if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) { continue }
                let answer: ControlReply
                do {
                    answer = handler(try decoder.decode(ControlRequest.self, from: Data(line)))
                } catch {
                    answer = .failure("bad request: not a control request JSON object (\(error))")
                }
                if !reply(answer) { return }
            }
        }
    }

    /// Stops the thread, closes the socket and removes its file (only if it is still ours). Safe to call twice.
    public func close() {
        guard !closed else { return }
        closed = true
        var byte: UInt8 = 1
        _ = write(wake.write, &byte, 1)
        if let thread { pthread_join(thread, nil) }
        thread = nil
        Glibc.close(listenFD)
        var info = stat()
        if lstat(path, &info) == 0 && info.st_ino == inode && info.st_dev == device { unlink(path) }
        if let ownDirectory { rmdir(ownDirectory) }  // fails, harmlessly, while another instance's socket is there
        Glibc.close(wake.read)
        Glibc.close(wake.write)
    }

    deinit { close() }
}

/// The `sluice ctl` side: one connection, one request, one reply.
public enum ControlClient {
    /// Sends `request` to the server at `path` and returns its reply. Errors say whether nobody serves the path,
    /// the caller may not connect, or the server misbehaved.
    public static func send(
        _ request: ControlRequest, to path: String, timeoutSeconds: Int = 30
    ) throws(ControlSocketError) -> ControlReply {
        let fd: Int32
        do { fd = try UnixSocket.makeSocket() } catch { throw ControlSocketError(error) }
        defer { Glibc.close(fd) }
        let code = try UnixSocket.connect(fd, path)
        switch code {
        case 0: break
        case ENOENT, ECONNREFUSED:
            throw ControlSocketError("no sluice instance is serving \(path) (\(String(cString: strerror(code))))")
        case EACCES, EPERM:
            throw ControlSocketError("permission denied connecting to \(path): the control socket is for root only")
        default:
            throw ControlSocketError(SystemError(call: "connect", errno: code, context: path))
        }
        UnixSocket.setTimeouts(fd, seconds: timeoutSeconds)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard var data = try? encoder.encode(request) else { throw ControlSocketError("could not encode the request") }
        data.append(UInt8(ascii: "\n"))
        guard UnixSocket.writeAll(fd, Array(data)) else {
            throw ControlSocketError("sending to \(path) failed: \(String(cString: strerror(errno)))")
        }
        _ = shutdown(fd, Int32(SHUT_WR))
        var reader = LineReader(fd: fd, limit: 256 << 20)
        switch reader.next() {
        case .line(let line):
            do { return try JSONDecoder().decode(ControlReply.self, from: Data(line)) } catch {
                throw ControlSocketError("the server at \(path) sent a reply that is not a control reply: \(error)")
            }
        case .end: throw ControlSocketError("the server at \(path) closed the connection without a reply")
        case .failed(let why): throw ControlSocketError("reading the reply from \(path): \(why)")
        }
    }
}
