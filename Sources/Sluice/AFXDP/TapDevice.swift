import CLibXDP

#if canImport(Glibc)
    import Glibc
#endif

/// A TAP device (`/dev/net/tun`, `IFF_TAP | IFF_NO_PI`) through which XDP_PASS frames reach the kernel stack.
/// The device exists while the descriptor is open; `close()` removes it.
public final class TapDevice {
    public let name: String
    public let fd: Int32
    private var closed = false

    /// Creates (or attaches to) the TAP device `name` and brings it up. With `macAddress` (the receiving interface's,
    /// as the engine passes), frames written into it are addressed to it, so the stack accepts them as its own
    /// rather than dropping them as "other host". IPv6 is turned off on it (best effort) so the stack does not
    /// queue router solicitations that nobody reads.
    public init(name: String, macAddress: [UInt8]? = nil) throws(AFXDPError) {
        guard !name.isEmpty, name.utf8.count < Int(IF_NAMESIZE) else {
            throw .invalidConfiguration("TAP device name '\(name)': 1...\(Int(IF_NAMESIZE) - 1) characters")
        }
        let fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw .system(SystemError(call: "open", errno: Errno.current.rawValue, context: "/dev/net/tun")) }
        var request = ifreq()
        Self.setName(&request, name)
        request.ifr_ifru.ifru_flags = Int16(IFF_TAP | IFF_NO_PI)
        let tunSetIff: UInt = 0x4004_54ca  // TUNSETIFF = _IOW('T', 202, int)
        if ioctl(fd, tunSetIff, &request) < 0 {
            let code = Errno.current.rawValue
            Glibc.close(fd)
            throw .system(SystemError(call: "ioctl(TUNSETIFF)", errno: code, context: name))
        }
        self.name = name
        self.fd = fd
        do {
            if let macAddress { try Self.setMAC(name, macAddress) }
            Self.disableIPv6(name)
            try Self.bringUp(name)
        } catch {
            close()
            throw error
        }
    }

    /// The TAP device `--pass-to-tap auto` creates for `interface`: the interface's name (shortened to fit
    /// IFNAMSIZ) with `-tap`, e.g. `eth0-tap`.
    public static func automaticName(for interface: String) -> String {
        let suffix = "-tap"
        let room = Int(IF_NAMESIZE) - 1 - suffix.utf8.count
        var base = ""
        for character in interface where base.utf8.count + character.utf8.count <= room { base.append(character) }
        return base + suffix
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

    static func setMAC(_ name: String, _ mac: [UInt8]) throws(AFXDPError) {
        guard mac.count == 6 else { throw .invalidConfiguration("MAC address for \(name) must have 6 bytes") }
        let sock = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard sock >= 0 else { throw .system(SystemError(call: "socket", errno: Errno.current.rawValue, context: "set MAC of \(name)")) }
        defer { Glibc.close(sock) }
        var request = ifreq()
        setName(&request, name)
        request.ifr_ifru.ifru_hwaddr.sa_family = sa_family_t(1)  // ARPHRD_ETHER
        withUnsafeMutableBytes(of: &request.ifr_ifru.ifru_hwaddr.sa_data) { raw in
            for i in 0..<6 { raw[i] = mac[i] }
        }
        guard ioctl(sock, UInt(SIOCSIFHWADDR), &request) == 0 else {
            throw .system(SystemError(call: "ioctl(SIOCSIFHWADDR)", errno: Errno.current.rawValue, context: name))
        }
    }

    static func disableIPv6(_ name: String) {
        let fd = open("/proc/sys/net/ipv6/conf/\(name)/disable_ipv6", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = Glibc.write(fd, "1", 1)
        Glibc.close(fd)
    }

    /// Frames written into the TAP come from hosts routed through the receiving interface, not the TAP, and the TAP
    /// has no IPv4 address: reverse-path filtering on it, strict (1) or loose (2), drops them all (the kernel refuses
    /// sources on an address-less device whenever `rp_filter` is set; `nstat` counts them as
    /// `TcpExtIPReversePathFilter`). The effective value is the larger of the device's and `all`'s. Returns a
    /// sentence for the user when filtering applies to TAP `name`, or nil when it does not. Sluice does not change
    /// the host's sysctls itself.
    public static func reversePathFilterWarning(_ name: String) -> String? {
        func value(_ scope: String) -> Int {
            guard let text = try? String(contentsOfFile: "/proc/sys/net/ipv4/conf/\(scope)/rp_filter", encoding: .utf8)
            else { return 0 }
            return Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        }
        let all = value("all")
        guard max(all, value(name)) != 0 else { return nil }
        return "net.ipv4.conf.all.rp_filter=\(all) makes the kernel drop IPv4 frames passed through TAP device \(name) "
            + "(their sources are routed through the receiving interface); `sysctl -w net.ipv4.conf.all.rp_filter=0` "
            + "lets them in"
    }

    static func bringUp(_ name: String) throws(AFXDPError) {
        let sock = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard sock >= 0 else { throw .system(SystemError(call: "socket", errno: Errno.current.rawValue, context: "bring up \(name)")) }
        defer { Glibc.close(sock) }
        var request = ifreq()
        setName(&request, name)
        guard ioctl(sock, UInt(SIOCGIFFLAGS), &request) == 0 else {
            throw .system(SystemError(call: "ioctl(SIOCGIFFLAGS)", errno: Errno.current.rawValue, context: name))
        }
        request.ifr_ifru.ifru_flags |= Int16(IFF_UP)
        guard ioctl(sock, UInt(SIOCSIFFLAGS), &request) == 0 else {
            throw .system(SystemError(call: "ioctl(SIOCSIFFLAGS)", errno: Errno.current.rawValue, context: name))
        }
    }
}
