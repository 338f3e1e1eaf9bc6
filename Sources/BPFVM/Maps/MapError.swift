/// Why a map could not be created, or why an operation from outside the program (CLI, tests, dumps) failed.
///
/// Operations carry the kernel's errno so a failure reads the same as `bpf_map_update_elem(2)` would report it.
public enum MapError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The map type is not implemented by Sluice (e.g. `perf_event_array`).
    case unsupportedType(map: String, type: MapType)
    /// The definition breaks a kernel rule (the kernel would refuse it with `errno`, usually EINVAL or E2BIG).
    case invalidDefinition(map: String, reason: String, errno: Int32)
    /// A key or value of the wrong size was handed to the Swift API.
    case wrongSize(map: String, what: String, expected: Int, actual: Int)
    /// The operation failed with a kernel error code (positive errno: `MapErrno.noEntry`, …).
    case operationFailed(map: String, operation: String, errno: Int32)
    /// The operation exists in the kernel but Sluice does not offer it (e.g. a DEVMAP entry with a program).
    case unsupportedOperation(map: String, reason: String)

    public var description: String {
        switch self {
        case .unsupportedType(let map, let type):
            "map '\(map)': map type \(type) (\(type.rawValue)) is not supported by Sluice"
        case .invalidDefinition(let map, let reason, let errno):
            "map '\(map)': invalid definition: \(reason) (\(MapErrno.name(errno)))"
        case .wrongSize(let map, let what, let expected, let actual):
            "map '\(map)': \(what) must be \(expected) bytes, got \(actual)"
        case .operationFailed(let map, let operation, let errno):
            "map '\(map)': \(operation) failed: \(MapErrno.name(errno))"
        case .unsupportedOperation(let map, let reason):
            "map '\(map)': \(reason)"
        }
    }

    /// The errno of an `operationFailed` or `invalidDefinition`, else nil.
    public var errno: Int32? {
        switch self {
        case .operationFailed(_, _, let errno), .invalidDefinition(_, _, let errno): errno
        default: nil
        }
    }
}

/// The Linux errno values map operations return (negated) to programs, named as the kernel names them.
public enum MapErrno {
    /// `EPERM`: a program wrote to a map it may only read.
    public static let notPermitted: Int32 = 1
    /// `ENOENT`: no such key (or `BPF_EXIST` on an absent key).
    public static let noEntry: Int32 = 2
    /// `E2BIG`: map full, or array index beyond `max_entries`.
    public static let tooBig: Int32 = 7
    /// `EAGAIN`: ring buffer full (`bpf_ringbuf_output`).
    public static let tryAgain: Int32 = 11
    /// `ENOMEM`: no free element (LRU could not evict).
    public static let outOfMemory: Int32 = 12
    /// `EEXIST`: `BPF_NOEXIST` on a present key.
    public static let exists: Int32 = 17
    /// `ENODEV`: CPUMAP entry for a CPU that does not exist.
    public static let noDevice: Int32 = 19
    /// `EINVAL`: bad flags, operation not valid for the map type.
    public static let invalid: Int32 = 22
    /// `ENOSPC`: LPM trie full.
    public static let noSpace: Int32 = 28
    /// `EOVERFLOW`: CPUMAP queue size too large.
    public static let overflow: Int32 = 75
    /// `ENOTSUPP` (kernel-internal 524): e.g. LRU map without preallocation.
    public static let notSupported: Int32 = 524

    public static func name(_ errno: Int32) -> String {
        switch errno {
        case notPermitted: "EPERM"
        case noEntry: "ENOENT"
        case tooBig: "E2BIG"
        case tryAgain: "EAGAIN"
        case outOfMemory: "ENOMEM"
        case exists: "EEXIST"
        case noDevice: "ENODEV"
        case invalid: "EINVAL"
        case noSpace: "ENOSPC"
        case overflow: "EOVERFLOW"
        case notSupported: "ENOTSUPP"
        default: "errno \(errno)"
        }
    }
}

/// `flags` of `bpf_map_update_elem`.
public enum MapUpdateFlags {
    /// `BPF_ANY`: create or replace.
    public static let any: UInt64 = 0
    /// `BPF_NOEXIST`: create only.
    public static let noExist: UInt64 = 1
    /// `BPF_EXIST`: replace only.
    public static let exist: UInt64 = 2
    /// `BPF_F_LOCK`: needs a `bpf_spin_lock` in the value, which Sluice does not support (→ EINVAL).
    public static let lock: UInt64 = 4
}

/// `map_flags` of a map definition.
public enum MapCreationFlags {
    /// `BPF_F_NO_PREALLOC`
    public static let noPrealloc: UInt32 = 1 << 0
    /// `BPF_F_NO_COMMON_LRU`
    public static let noCommonLRU: UInt32 = 1 << 1
    /// `BPF_F_RDONLY_PROG`
    public static let readOnlyProgram: UInt32 = 1 << 7
}

/// Flags of `bpf_redirect_map` beyond the fallback action in the low two bits.
public enum RedirectMapFlags {
    /// `BPF_F_BROADCAST` (DEVMAP only; not supported by Sluice: the call returns `XDP_ABORTED`).
    public static let broadcast: UInt64 = 1 << 3
    /// `BPF_F_EXCLUDE_INGRESS` (DEVMAP only, with broadcast).
    public static let excludeIngress: UInt64 = 1 << 4
}

/// Flags of `bpf_ringbuf_submit/discard/output` (wake-up hints; accepted and ignored).
public enum RingbufFlags {
    /// `BPF_RB_NO_WAKEUP`
    public static let noWakeup: UInt64 = 1
    /// `BPF_RB_FORCE_WAKEUP`
    public static let forceWakeup: UInt64 = 2
}
