#if canImport(Glibc)
import Glibc
#endif
import CLibXDP

/// A TAP device (`/dev/net/tun`, `IFF_TAP | IFF_NO_PI`) through which XDP_PASS frames reach the kernel stack.
/// The device exists while the descriptor is open; `close()` removes it.
public final class TapDevice {
    public let name: String
    public let fd: Int32
    private var closed = false

    /// Creates (or attaches to) the TAP device `name` and brings it up.
    public init(name: String) throws(AFXDPError) {
        guard !name.isEmpty, name.utf8.count < Int(IF_NAMESIZE) else {
            throw .invalidConfiguration("TAP device name '\(name)': 1...\(Int(IF_NAMESIZE) - 1) characters")
        }
        let fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw .system(SystemError(call: "open", errno: errno, context: "/dev/net/tun")) }
        var request = ifreq()
        Self.setName(&request, name)
        request.ifr_ifru.ifru_flags = Int16(IFF_TAP | IFF_NO_PI)
        let tunSetIff: UInt = 0x4004_54ca  // TUNSETIFF = _IOW('T', 202, int)
        if ioctl(fd, tunSetIff, &request) < 0 {
            let code = errno
            Glibc.close(fd)
            throw .system(SystemError(call: "ioctl(TUNSETIFF)", errno: code, context: name))
        }
        self.name = name
        self.fd = fd
        do {
            try Self.bringUp(name)
        } catch {
            close()
            throw error
        }
    }

    /// Writes one frame into the kernel (it arrives as if received on the TAP interface). Returns false when the
    /// kernel refused it (queue full, interface down); the caller counts that.
    @inline(__always)
    func write(_ bytes: UnsafeRawPointer, count: Int) -> Bool {
        Glibc.write(fd, bytes, count) == count
    }

    public func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(fd)
    }

    deinit { close() }

    static func setName(_ request: inout ifreq, _ name: String) {
        withUnsafeMutableBytes(of: &request.ifr_ifrn.ifrn_name) { raw in
            raw.initializeMemory(as: UInt8.self, repeating: 0)
            for (i, byte) in name.utf8.prefix(raw.count - 1).enumerated() { raw[i] = byte }
        }
    }

    static func bringUp(_ name: String) throws(AFXDPError) {
        let sock = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard sock >= 0 else { throw .system(SystemError(call: "socket", errno: errno, context: "bring up \(name)")) }
        defer { Glibc.close(sock) }
        var request = ifreq()
        setName(&request, name)
        guard ioctl(sock, UInt(SIOCGIFFLAGS), &request) == 0 else {
            throw .system(SystemError(call: "ioctl(SIOCGIFFLAGS)", errno: errno, context: name))
        }
        request.ifr_ifru.ifru_flags |= Int16(IFF_UP)
        guard ioctl(sock, UInt(SIOCSIFFLAGS), &request) == 0 else {
            throw .system(SystemError(call: "ioctl(SIOCSIFFLAGS)", errno: errno, context: name))
        }
    }
}
