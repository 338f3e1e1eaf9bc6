#if canImport(Glibc)
import Glibc
#endif

/// The capabilities loading and test-running an XDP program needs, read from the process's effective set.
///
/// `BPF_PROG_LOAD` of an XDP program needs CAP_BPF (or CAP_SYS_ADMIN) and, because XDP is a networking program
/// type, CAP_NET_ADMIN (or CAP_SYS_ADMIN). Root has all of them.
public enum KernelPrivileges {
    /// `CAP_NET_ADMIN`
    static let netAdmin = 12
    /// `CAP_SYS_ADMIN`
    static let sysAdmin = 21
    /// `CAP_BPF`
    static let bpf = 39

    /// The capabilities the kernel runner needs that this process lacks; empty when it can run.
    public static func missing() -> [String] {
        guard let effective = effectiveCapabilities() else { return ["CAP_BPF", "CAP_NET_ADMIN"] }
        func has(_ bit: Int) -> Bool { effective & (1 << UInt64(bit)) != 0 }
        var missing: [String] = []
        if !has(bpf) && !has(sysAdmin) { missing.append("CAP_BPF") }
        if !has(netAdmin) && !has(sysAdmin) { missing.append("CAP_NET_ADMIN") }
        return missing
    }

    /// Whether the kernel runner can load and run programs in this process.
    public static var sufficient: Bool { missing().isEmpty }

    /// `CapEff` from /proc/self/status, or nil if it cannot be read.
    private static func effectiveCapabilities() -> UInt64? {
        guard let file = fopen("/proc/self/status", "r") else { return nil }
        defer { fclose(file) }
        var line: UnsafeMutablePointer<CChar>? = nil
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0 {
            guard let line else { break }
            let text = String(cString: line)
            if text.hasPrefix("CapEff:") {
                let hex = text.dropFirst("CapEff:".count).filter { $0.isHexDigit }
                return UInt64(hex, radix: 16)
            }
        }
        return nil
    }
}
