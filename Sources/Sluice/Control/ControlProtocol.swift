import BPFVM

/// The control socket's protocol (docs/CONTROL.md): one JSON object per line each way. A client sends a request,
/// the server answers with exactly one reply line; a connection may carry several requests in turn.
public enum ControlProtocol {
    /// Bumped when a request or reply changes incompatibly. Servers refuse requests of another version.
    public static let version = 1
    /// The longest request line the server reads (a reload's `--maps` JSON travels inline).
    public static let maximumLineBytes = 4 << 20
}

/// A request. `command` is one of `stats`, `map.list`, `map.dump`, `map.lookup`, `map.update`, `map.delete`,
/// `reload`; the other members are that command's arguments.
public struct ControlRequest: Codable, Sendable, Equatable {
    public var version: Int = ControlProtocol.version
    public var command: String
    /// Map commands: the map's name (`map.dump` without it dumps every map).
    public var map: String?
    /// Map commands: key and value as compact hex (`0102ff`).
    public var key: String?
    public var value: String?
    /// `map.update`: `any` (default), `noexist` or `exist` (BPF_ANY, BPF_NOEXIST, BPF_EXIST).
    public var flags: String?
    /// `reload`: an absolute path to the object, and the program selection and state options of `sluice run`.
    public var object: String?
    public var section: String?
    public var program: String?
    /// `reload`: `--maps` file contents (JSON text).
    public var mapsJSON: String?
    public var globals: [String]?
    /// `reload`: carry compatible maps over (default true).
    public var keepMaps: Bool?
    /// `trace`: the first line number wanted (the `next` of the previous reply; 0 or absent: every kept line).
    public var since: UInt64?

    public init(command: String) { self.command = command }
}

/// A reply: `ok` with the command's result member, or `error` with a message.
public struct ControlReply: Codable, Sendable, Equatable {
    public var version: Int = ControlProtocol.version
    public var ok: Bool
    public var error: String?
    public var stats: ControlStats?
    public var maps: [ControlMapInfo]?
    /// `map.dump`: one per map dumped.
    public var dumps: [ControlMapDump]?
    /// `map.lookup`.
    public var entry: ControlMapEntry?
    public var reload: LiveProgram.ReloadReport?
    /// `trace`: `bpf_trace_printk` lines in trace_pipe's format.
    public var trace: LiveTrace.Lines?
    /// `redirect.reload`: the kernel-side program's new id on each attached interface.
    public var redirectProgramIDs: [UInt32]?
    /// `redirect.reload`: how the program was swapped ("bpf_link_update", or "libxdp's dispatcher" in multiprog).
    public var redirectReplacedThrough: String?

    public init(ok: Bool, error: String? = nil) {
        self.ok = ok
        self.error = error
    }

    public static func failure(_ message: String) -> ControlReply { ControlReply(ok: false, error: message) }
}

/// `stats`: the engine's counters, the program and its history.
public struct ControlStats: Codable, Sendable, Equatable {
    public var interface: String
    public var program: String
    public var object: String
    public var engine: Engine
    public var generation: UInt64
    public var reloads: UInt64
    /// Per queue: rx/tx/drop/pass/redirect/aborted packets, budget overruns, socket statistics.
    public var live: LiveStats
    /// Every program generation with the frames it processed; `sum(processed) == total rx` once traffic is quiet.
    public var generations: [LiveProgram.Generation]
    /// Seconds since the control server started (for rates between two snapshots, with `live.monotonicNanos`).
    public var uptimeSeconds: Double
    /// The program's run time per frame, sampled (nil from servers before it existed).
    public var runTime: RunTimeHistogram?
}

public struct ControlMapInfo: Codable, Sendable, Equatable {
    public var name: String
    public var type: String
    public var keySize: Int
    public var valueSize: Int
    public var maxEntries: Int
    public var flags: UInt32
    /// Entries in use (arrays: max_entries).
    public var entries: Int
}

/// One entry in bpftool's JSON shape: `key`/`value` as `"0x.."` byte arrays; per-CPU maps give `values` with one
/// `{cpu, value}` each instead of `value`; `formatted` when a decoder describes the map.
public struct ControlMapEntry: Codable, Sendable, Equatable {
    public struct CPUValue: Codable, Sendable, Equatable {
        public var cpu: Int
        public var value: [String]
    }
    public var key: [String]
    public var value: [String]?
    public var values: [CPUValue]?
    public var formatted: ControlJSON?

    public init(map: BPFMap, key: [UInt8], values: [[UInt8]]) {
        self.key = MapBytes.jsonArray(key)
        if map.type.isPerCPU {
            self.values = values.enumerated().map { CPUValue(cpu: $0.offset, value: MapBytes.jsonArray($0.element)) }
        } else {
            value = MapBytes.jsonArray(values.first ?? [])
        }
        formatted = MapEntryDecoder.decode(map: map, key: key, values: values)
    }

    /// The bytes back from the JSON shape.
    public var keyBytes: [UInt8] { key.compactMap { UInt8($0.dropFirst(2), radix: 16) } }
    public var valueBytes: [[UInt8]] {
        if let values { return values.map { $0.value.compactMap { UInt8($0.dropFirst(2), radix: 16) } } }
        return [(value ?? []).compactMap { UInt8($0.dropFirst(2), radix: 16) }]
    }
}

public struct ControlMapDump: Codable, Sendable, Equatable {
    public var map: ControlMapInfo
    public var entries: [ControlMapEntry]
}
