/// The kernel's `enum bpf_map_type` numbers for the map types Sluice knows by name. Unknown numbers are kept as they
/// are (`MapType(rawValue:)` is total) so a loader can name them in its error.
public struct MapType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `BPF_MAP_TYPE_HASH`
    public static let hash = MapType(rawValue: 1)
    /// `BPF_MAP_TYPE_ARRAY`
    public static let array = MapType(rawValue: 2)
    /// `BPF_MAP_TYPE_PROG_ARRAY`
    public static let progArray = MapType(rawValue: 3)
    /// `BPF_MAP_TYPE_PERF_EVENT_ARRAY`
    public static let perfEventArray = MapType(rawValue: 4)
    /// `BPF_MAP_TYPE_PERCPU_HASH`
    public static let percpuHash = MapType(rawValue: 5)
    /// `BPF_MAP_TYPE_PERCPU_ARRAY`
    public static let percpuArray = MapType(rawValue: 6)
    /// `BPF_MAP_TYPE_LRU_HASH`
    public static let lruHash = MapType(rawValue: 9)
    /// `BPF_MAP_TYPE_LRU_PERCPU_HASH`
    public static let lruPercpuHash = MapType(rawValue: 10)
    /// `BPF_MAP_TYPE_LPM_TRIE`
    public static let lpmTrie = MapType(rawValue: 11)
    /// `BPF_MAP_TYPE_DEVMAP`
    public static let devmap = MapType(rawValue: 14)
    /// `BPF_MAP_TYPE_CPUMAP`
    public static let cpumap = MapType(rawValue: 16)
    /// `BPF_MAP_TYPE_XSKMAP`
    public static let xskmap = MapType(rawValue: 17)
    /// `BPF_MAP_TYPE_DEVMAP_HASH`
    public static let devmapHash = MapType(rawValue: 25)
    /// `BPF_MAP_TYPE_RINGBUF`
    public static let ringbuf = MapType(rawValue: 27)

    /// The name bpftool prints (`MapTypeRegistry`), nil for a type Sluice does not implement.
    public var name: String? { info?.name }

    public var description: String { name ?? "map type \(rawValue)" }

    /// Whether each key has one value per CPU.
    public var isPerCPU: Bool { info?.perCPU ?? false }
}

/// A map as an object file declares it (BTF `.maps` or legacy `maps` section, or a global-data section).
public struct MapSpec: Hashable, Sendable {
    /// The map's name: the variable name, or the section name for global data (`.rodata`, `.data`, `.bss`, …).
    public var name: String
    public var type: MapType
    public var keySize: Int
    public var valueSize: Int
    public var maxEntries: Int
    /// `map_flags` (e.g. `BPF_F_NO_PREALLOC`, `BPF_F_RDONLY_PROG`).
    public var flags: UInt32
    /// Initial contents of a global-data map's single value (`.rodata`, `.data`); nil for ordinary maps.
    public var initialValue: [UInt8]?
    /// The program may not write to it (`.rodata` after load: kernel semantics of a frozen map).
    public var readOnlyForProgram: Bool
    /// Initial slots of a PROG_ARRAY (`__array(values, …)` initialisers): slot → program (function) name.
    public var initialPrograms: [Int: String]
    /// The key and value types from BTF (`__type(key, …)`, `__type(value, …)`, a global-data section's `DATASEC`);
    /// nil when the object declares none (legacy `maps` definitions, `key_size`/`value_size` only, no BTF).
    public var keyType: BTFType? = nil
    public var valueType: BTFType? = nil

    public init(
        name: String, type: MapType, keySize: Int, valueSize: Int, maxEntries: Int, flags: UInt32 = 0,
        initialValue: [UInt8]? = nil, readOnlyForProgram: Bool = false, initialPrograms: [Int: String] = [:]
    ) {
        self.name = name
        self.type = type
        self.keySize = keySize
        self.valueSize = valueSize
        self.maxEntries = maxEntries
        self.flags = flags
        self.initialValue = initialValue
        self.readOnlyForProgram = readOnlyForProgram
        self.initialPrograms = initialPrograms
    }

    /// Whether this is a global-data map (`.rodata`, `.data`, `.bss`, `.rodata.*`, `.data.*`).
    public var isGlobalData: Bool { name.hasPrefix(".rodata") || name.hasPrefix(".data") || name.hasPrefix(".bss") }
}
