/// The per-packet view of a map: plain data in stable memory, so that helpers reach a map from the pointer the
/// program holds (`lddw` of a map yields the address of its `MapCore`) without ARC, existentials or locks.
///
/// The owning `BPFMap` allocates the core and the storage and frees them; type-specific layouts of `storage` and
/// `auxiliary` are described by each map type's implementation. For PROG_ARRAY, `storage` is `maxEntries` slots of
/// `UnsafePointer<CodeHandle>?` (8 bytes each), which the interpreter's tail call reads directly.
@frozen
public struct MapCore {
    /// `MapType.rawValue`.
    public var type: UInt32
    public var keySize: UInt32
    public var valueSize: UInt32
    public var maxEntries: UInt32
    public var flags: UInt32
    /// The program may not write values (frozen `.rodata`).
    public var readOnly: Bool
    /// Value size rounded up to 8 (the kernel's per-CPU value stride).
    public var valueStride: Int
    /// CPUs per-CPU maps hold values for.
    public var possibleCPUs: Int
    /// Type-specific storage (array values, hash elements, prog slots, ring buffer bytes, …).
    public var storage: UnsafeMutableRawPointer
    /// Bytes of `storage` (for checked-mode regions).
    public var storageSize: Int
    /// Type-specific extra state (hash buckets, LRU list, ring positions, …).
    public var auxiliary: UnsafeMutableRawPointer?

    public init(
        type: MapType, keySize: Int, valueSize: Int, maxEntries: Int, flags: UInt32, readOnly: Bool,
        possibleCPUs: Int, storage: UnsafeMutableRawPointer, storageSize: Int,
        auxiliary: UnsafeMutableRawPointer? = nil
    ) {
        self.type = type.rawValue
        self.keySize = UInt32(keySize)
        self.valueSize = UInt32(valueSize)
        self.maxEntries = UInt32(maxEntries)
        self.flags = flags
        self.readOnly = readOnly
        self.valueStride = (valueSize + 7) & ~7
        self.possibleCPUs = possibleCPUs
        self.storage = storage
        self.storageSize = storageSize
        self.auxiliary = auxiliary
    }
}
