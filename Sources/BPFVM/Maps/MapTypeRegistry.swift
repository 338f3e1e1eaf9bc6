/// What Sluice knows about each map type, said once (as the kernel's `bpf_map_ops` tables are): the name, the
/// storage that implements it, whether values are per CPU, whether user space can read its entries as bytes, whether
/// Sluice's entries can be compared with the kernel's, which helpers accept it, and whether a program may change
/// it. The verifier, the loader, replay, the kernel runner and the control plane read this table; a new map type is a
/// new row here (and, if no existing storage fits, a new storage kind in `BPFMap`/`MapOperations`).
public struct MapTypeInfo: Sendable {
    /// The implementation behind the type.
    public enum Storage: Sendable {
        /// Fixed slots indexed by a u32 key, preallocated (ARRAY, PERCPU_ARRAY).
        case array
        /// A hash table of key → value (HASH, PERCPU_HASH, LRU_*, DEVMAP_HASH).
        case hash
        /// Longest-prefix match over (prefix length, data) keys.
        case lpmTrie
        /// Redirect targets indexed by a u32 key (DEVMAP, CPUMAP, XSKMAP).
        case slots
        /// Program slots for tail calls.
        case progArray
        /// Per-CPU event channels for `bpf_perf_event_output`.
        case perfEventArray
        /// A ring buffer for `bpf_ringbuf_*` records.
        case ringbuf
    }

    /// Helper families that take a map argument (`checkMapCompatibility`).
    public struct Helpers: OptionSet, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// `bpf_map_lookup_elem`, `bpf_map_update_elem`, `bpf_map_delete_elem`.
        public static let elements = Helpers(rawValue: 1 << 0)
        /// `bpf_tail_call`.
        public static let tailCall = Helpers(rawValue: 1 << 1)
        /// `bpf_redirect_map`.
        public static let redirect = Helpers(rawValue: 1 << 2)
        /// `bpf_ringbuf_output`, `bpf_ringbuf_reserve`.
        public static let ringbuf = Helpers(rawValue: 1 << 3)
        /// `bpf_perf_event_output`.
        public static let perfEvent = Helpers(rawValue: 1 << 4)
    }

    public let type: MapType
    /// The kernel's name without `BPF_MAP_TYPE_`, lowercased (as bpftool prints it).
    public let name: String
    public let storage: Storage
    /// Each key has one value per possible CPU.
    public let perCPU: Bool
    /// Least-recently-used eviction when full.
    public let lru: Bool
    /// User space reads and writes its entries as key/value bytes (dumps, `--maps`, the kernel runner).
    public let dumpable: Bool
    /// Sluice's entries and the kernel runner's can be compared byte for byte (`--against-kernel`).
    public let comparableWithKernel: Bool
    public let helpers: Helpers
    /// Programs may update and delete its elements (DEVMAP, XSKMAP, … are filled from user space only).
    public let programWritable: Bool
}

public enum MapTypeRegistry {
    /// Every map type Sluice implements.
    public static let all: [MapTypeInfo] = [
        row(.hash, "hash", .hash, dumpable: true, comparable: true, helpers: .elements, writable: true),
        row(.array, "array", .array, dumpable: true, comparable: true, helpers: .elements, writable: true),
        row(.progArray, "prog_array", .progArray, helpers: .tailCall),
        row(.perfEventArray, "perf_event_array", .perfEventArray, helpers: .perfEvent),
        row(.percpuHash, "percpu_hash", .hash, perCPU: true, dumpable: true, comparable: true, helpers: .elements,
            writable: true),
        row(.percpuArray, "percpu_array", .array, perCPU: true, dumpable: true, comparable: true, helpers: .elements,
            writable: true),
        row(.lruHash, "lru_hash", .hash, lru: true, dumpable: true, comparable: true, helpers: .elements,
            writable: true),
        row(.lruPercpuHash, "lru_percpu_hash", .hash, perCPU: true, lru: true, dumpable: true, comparable: true,
            helpers: .elements, writable: true),
        row(.lpmTrie, "lpm_trie", .lpmTrie, dumpable: true, comparable: true, helpers: .elements, writable: true),
        row(.devmap, "devmap", .slots, dumpable: true, comparable: true, helpers: [.elements, .redirect]),
        row(.cpumap, "cpumap", .slots, helpers: [.elements, .redirect]),
        row(.xskmap, "xskmap", .slots, helpers: [.elements, .redirect]),
        row(.devmapHash, "devmap_hash", .hash, dumpable: true, comparable: true, helpers: [.elements, .redirect]),
        row(.ringbuf, "ringbuf", .ringbuf, helpers: .ringbuf),
    ]

    private static func row(
        _ type: MapType, _ name: String, _ storage: MapTypeInfo.Storage, perCPU: Bool = false, lru: Bool = false,
        dumpable: Bool = false, comparable: Bool = false, helpers: MapTypeInfo.Helpers, writable: Bool = false
    ) -> MapTypeInfo {
        MapTypeInfo(
            type: type, name: name, storage: storage, perCPU: perCPU, lru: lru, dumpable: dumpable,
            comparableWithKernel: comparable, helpers: helpers, programWritable: writable)
    }

    private static let byType: [UInt32: MapTypeInfo] = Dictionary(
        uniqueKeysWithValues: all.map { ($0.type.rawValue, $0) })

    /// The row for `type`, nil for a type Sluice does not implement.
    public static func info(_ type: MapType) -> MapTypeInfo? { byType[type.rawValue] }
}

extension MapType {
    /// This type's row in `MapTypeRegistry`, nil when Sluice does not implement it.
    public var info: MapTypeInfo? { MapTypeRegistry.info(self) }
}
