import BPFVM

/// Why the kernel runner could not load or run a program. Failed libbpf/libc calls are `SystemError`s; these are the
/// cases a user can act on, each naming what was wrong.
public enum KernelRunnerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The process lacks CAP_BPF (or CAP_SYS_ADMIN) or CAP_NET_ADMIN; `missing` names them.
    case insufficientPrivileges(missing: [String])
    /// No file at the object path.
    case objectNotFound(path: String)
    /// libbpf could not open the object (not an ELF BPF object, bad BTF, …); `log` is what libbpf said.
    case objectNotOpened(path: String, errno: Int32, log: String)
    /// No program matches the selector; `available` lists every program as `section/function`.
    case programNotFound(ProgramSelector, path: String, available: [String])
    /// The kernel's verifier refused a program; `log` is the verifier log.
    case loadRejected(program: String, errno: Int32, log: String)
    /// Loading failed without a verifier log (a map the kernel would not create, a relocation libbpf could not
    /// apply…); `log` is what libbpf said.
    case loadFailed(path: String, errno: Int32, log: String)
    /// `initialMaps` names a map the object does not have.
    case unknownMap(String, available: [String])
    /// `globals` names a variable no global-data section declares.
    case unknownGlobal(String, available: [String])
    case keySizeMismatch(map: String, expected: Int, actual: Int)
    /// For per-CPU maps `expected` is the value size; a value of `expected × CPUs` bytes is accepted too.
    case valueSizeMismatch(map: String, expected: Int, actual: Int)
    /// `globals` gave a variable a value of the wrong size.
    case globalSizeMismatch(name: String, expected: Int, actual: Int)
    /// A global-data map was given an entry with a key other than index 0.
    case globalDataKeyNotZero(map: String)
    /// Entries cannot be written into this map type from outside (PROG_ARRAY slots hold program fds, filled from the
    /// object's initialisers; RINGBUF has no keys; XSKMAP needs sockets…).
    case mapNotWritable(map: String, type: UInt32)
    /// XDP metadata must be a multiple of 4 bytes and at most 32 (`xdp_metalen_invalid`).
    case invalidMetadataLength(Int)
    /// `BPF_PROG_TEST_RUN` refuses packets (metadata not counted) shorter than an Ethernet header (14 bytes).
    case frameTooShort(length: Int)
    /// A non-zero rx queue needs an ingress device (`ingress_ifindex`); the kernel refuses it otherwise.
    case rxQueueWithoutDevice(rxQueue: UInt32)

    public var description: String {
        switch self {
        case .insufficientPrivileges(let missing):
            "the kernel runner needs CAP_BPF and CAP_NET_ADMIN (run as root); missing: "
                + missing.joined(separator: ", ")
        case .objectNotFound(let path):
            "\(path): no such object file"
        case .objectNotOpened(let path, let errno, let log):
            "\(path): libbpf could not open the object (errno \(errno))" + Self.tail(of: log)
        case .programNotFound(let selector, let path, let available):
            "\(path): no program \(selector); available: "
                + (available.isEmpty ? "none" : available.joined(separator: ", "))
        case .loadRejected(let program, let errno, let log):
            "the kernel rejected program '\(program)' (errno \(errno))" + Self.tail(of: log)
        case .loadFailed(let path, let errno, let log):
            "\(path): libbpf could not load the object (errno \(errno))" + Self.tail(of: log)
        case .unknownMap(let name, let available):
            "no map '\(name)' in the object; maps: " + (available.isEmpty ? "none" : available.joined(separator: ", "))
        case .unknownGlobal(let name, let available):
            "no global variable '\(name)' in the object; globals: "
                + (available.isEmpty ? "none" : available.joined(separator: ", "))
        case .keySizeMismatch(let map, let expected, let actual):
            "map '\(map)': key is \(actual) bytes, the map's key size is \(expected)"
        case .valueSizeMismatch(let map, let expected, let actual):
            "map '\(map)': value is \(actual) bytes, the map's value size is \(expected)"
        case .globalSizeMismatch(let name, let expected, let actual):
            "global '\(name)': value is \(actual) bytes, the variable is \(expected)"
        case .globalDataKeyNotZero(let map):
            "map '\(map)' is global data: its only key is index 0 (4 zero bytes)"
        case .mapNotWritable(let map, let type):
            "map '\(map)' (\(MapType(rawValue: type).description)) cannot be filled from outside the program"
        case .invalidMetadataLength(let length):
            "XDP metadata of \(length) bytes: the kernel needs a multiple of 4, at most 32"
        case .frameTooShort(let length):
            "packet of \(length) bytes: BPF_PROG_TEST_RUN refuses packets shorter than an Ethernet header (14 bytes)"
        case .rxQueueWithoutDevice(let rxQueue):
            "rx queue \(rxQueue) without an ingress device: the kernel needs ingress_ifindex for a non-zero queue"
        }
    }

    /// The last lines of a long log: the verifier's complaint is at the end.
    static func tail(of log: String, lines: Int = 25) -> String {
        let all = log.split(separator: "\n", omittingEmptySubsequences: true)
        guard !all.isEmpty else { return "" }
        let shown = all.suffix(lines)
        let elided = all.count > shown.count ? "  … \(all.count - shown.count) earlier lines\n" : ""
        return ":\n" + elided + shown.map { "  \($0)" }.joined(separator: "\n")
    }
}
