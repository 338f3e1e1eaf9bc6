/// What running one packet produced, in the same shape for Sluice's VM and for the kernel runner, so the two can be
/// compared field by field.
public struct RunOutcome: Hashable, Sendable {
    /// The program's raw return value (r0, truncated to 32 bits as the kernel reports it).
    public var returnValue: UInt32
    /// The frame after the program ran (data .. data_end).
    public var packet: [UInt8]
    /// The metadata area after the program ran (data_meta .. data).
    public var metadata: [UInt8]

    public init(returnValue: UInt32, packet: [UInt8], metadata: [UInt8]) {
        self.returnValue = returnValue
        self.packet = packet
        self.metadata = metadata
    }

    public var action: XDPAction { XDPAction(returnValue: UInt64(returnValue)) }
}

/// The contents of one map after a run, in the same shape from Sluice and from the kernel.
public struct MapSnapshot: Hashable, Sendable {
    public var name: String
    /// The kernel's `BPF_MAP_TYPE_*` number.
    public var type: UInt32
    public var keySize: Int
    public var valueSize: Int
    /// Entries sorted by key bytes. Per-CPU maps have one value per CPU; others exactly one.
    public var entries: [Entry]

    public struct Entry: Hashable, Sendable {
        public var key: [UInt8]
        public var values: [[UInt8]]
        public init(key: [UInt8], values: [[UInt8]]) {
            self.key = key
            self.values = values
        }
    }

    public init(name: String, type: UInt32, keySize: Int, valueSize: Int, entries: [Entry]) {
        self.name = name
        self.type = type
        self.keySize = keySize
        self.valueSize = valueSize
        self.entries = entries
    }
}
