import CLibXDP

#if canImport(Glibc)
    import Glibc
#endif

/// The process privileges the live engine needs, checked before anything is created so the error can name them.
public enum Privileges {
    /// Linux capability numbers (`linux/capability.h`).
    public enum Capability: Int, CaseIterable, Sendable, CustomStringConvertible {
        /// `CAP_NET_ADMIN`: attach XDP programs, create TAP devices, set busy-poll options.
        case netAdmin = 12
        /// `CAP_NET_RAW`: create `AF_XDP` sockets.
        case netRaw = 13
        /// `CAP_IPC_LOCK`: lock UMEM memory beyond `RLIMIT_MEMLOCK`.
        case ipcLock = 14
        /// `CAP_SYS_ADMIN`: the pre-5.8 substitute for `CAP_BPF`.
        case sysAdmin = 21
        /// `CAP_BPF`: load BPF programs and create maps.
        case bpf = 39

        public var description: String {
            switch self {
            case .netAdmin: "CAP_NET_ADMIN"
            case .netRaw: "CAP_NET_RAW"
            case .ipcLock: "CAP_IPC_LOCK"
            case .sysAdmin: "CAP_SYS_ADMIN"
            case .bpf: "CAP_BPF"
            }
        }
    }

    /// The effective capability set, read from `/proc/self/status` (`CapEff`); nil if it cannot be read.
    public static func effectiveCapabilities() -> UInt64? {
        guard let status = readSmallFile("/proc/self/status") else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("CapEff:") {
            let hex = line.dropFirst("CapEff:".count).trimmingCharacters(in: " \t")
            return UInt64(hex, radix: 16)
        }
        return nil
    }

    /// The capabilities the live engine needs that this process does not have (empty when all are present).
    /// `CAP_BPF` is satisfied by `CAP_SYS_ADMIN` too, as the kernel allows.
    public static func missingForLiveEngine(effective: UInt64? = effectiveCapabilities()) -> [Capability] {
        guard let effective else { return [] }  // unknown: let the kernel decide and report
        func has(_ cap: Capability) -> Bool { effective & (UInt64(1) << UInt64(cap.rawValue)) != 0 }
        var missing: [Capability] = []
        if !has(.netAdmin) { missing.append(.netAdmin) }
        if !has(.netRaw) { missing.append(.netRaw) }
        if !has(.bpf) && !has(.sysAdmin) { missing.append(.bpf) }
        return missing
    }

    /// Throws `AFXDPError.missingCapabilities` naming every missing capability.
    public static func requireLiveEngine() throws(AFXDPError) {
        let missing = missingForLiveEngine()
        if !missing.isEmpty { throw .missingCapabilities(missing.map(\.description)) }
    }

    /// Raises `RLIMIT_MEMLOCK` to unlimited (needed for UMEM and maps on kernels without memcg accounting).
    /// Returns the error instead of throwing: on recent kernels a failure is harmless and only worth a warning.
    @discardableResult
    public static func raiseMemlockLimit() -> SystemError? {
        var limit = rlimit(rlim_cur: rlim_t.max, rlim_max: rlim_t.max)  // RLIM_INFINITY
        if setrlimit(__rlimit_resource_t(8), &limit) == 0 { return nil }  // RLIMIT_MEMLOCK
        return SystemError(call: "setrlimit", errno: Errno.current.rawValue, context: "RLIMIT_MEMLOCK")
    }
}

/// Reads a small text file (procfs, sysfs) with plain libc; nil when it cannot be opened.
func readSmallFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && Errno.current == .interrupted { continue }
        if n <= 0 { break }
        bytes.append(contentsOf: chunk[0..<n])
    }
    return String(decoding: bytes, as: UTF8.self)
}

extension Substring {
    func trimmingCharacters(in set: String) -> String {
        var s = self[...]
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return String(s)
    }
}
