/// One entry of a map dump: the key and its value (one per CPU for per-CPU maps, else one).
public struct MapEntry: Hashable, Sendable {
    public var key: [UInt8]
    public var values: [[UInt8]]

    public init(key: [UInt8], values: [[UInt8]]) {
        self.key = key
        self.values = values
    }
}

/// A map with the kernel's semantics: owns its `MapCore` (stable address, what `lddw` of the map yields) and the
/// storage behind it, and offers a Swift API for everything outside the program (CLI `--maps`, tests, dumps).
///
/// Programs reach the map only through `core` and `MapOperations`; this class is never touched per packet. The
/// Swift API may run while workers run programs: structural changes take the map's spinlock, as program updates do;
/// array values are never locked (programs change them in place with atomic instructions). Operations from
/// outside act as CPU 0 where the CPU matters (the LRU lists of LRU maps).
///
/// `possibleCPUs` is the number of CPUs the kernel would report possible: per-CPU maps keep that many values, CPUMAP
/// accepts that many CPUs, and LRU maps size their per-CPU lists with it.
public final class BPFMap: @unchecked Sendable {
    public let spec: MapSpec
    public let core: UnsafeMutablePointer<MapCore>
    public var name: String { spec.name }
    public var type: MapType { spec.type }
    public var possibleCPUs: Int { core.pointee.possibleCPUs }

    /// Kernel limits the definition checks use.
    enum Limits {
        /// `KMALLOC_MAX_SIZE` on x86-64 (4 MiB).
        static let kmallocMax = 4 << 20
        /// `PCPU_MIN_UNIT_SIZE`: largest per-CPU value.
        static let perCPUValueMax = 32768
        /// `MAX_BPF_STACK`: largest hash key.
        static let hashKeyMax = 512
        /// Sluice's own cap on one map's memory (storage + bookkeeping), so a bad definition cannot exhaust memory.
        static let memoryMax = 1 << 30
        static let pageSize = 4096
        static let possibleCPUsMax = 4096
    }

    /// Creates the map. A PERF_EVENT_ARRAY declared with `max_entries` 0 gets one slot per possible CPU, as libbpf
    /// creates it (`spec` then reports that size).
    public init(spec: MapSpec, possibleCPUs: Int = 1) throws(MapError) {
        var spec = spec
        if spec.type == .perfEventArray && spec.maxEntries == 0 { spec.maxEntries = possibleCPUs }
        self.spec = spec
        let (storageSize, auxiliarySize) = try BPFMap.layout(of: spec, possibleCPUs: possibleCPUs)
        let storage = UnsafeMutableRawPointer.allocate(byteCount: max(storageSize, 8), alignment: 64)
        MapMemory.zero(storage, count: max(storageSize, 8))
        var auxiliary: UnsafeMutableRawPointer? = nil
        if auxiliarySize > 0 {
            let memory = UnsafeMutableRawPointer.allocate(byteCount: auxiliarySize, alignment: 64)
            MapMemory.zero(memory, count: auxiliarySize)
            auxiliary = memory
        }
        core = .allocate(capacity: 1)
        core.initialize(
            to: MapCore(
                type: spec.type, keySize: spec.keySize, valueSize: spec.valueSize, maxEntries: spec.maxEntries,
                flags: spec.flags,
                readOnly: spec.readOnlyForProgram || spec.flags & MapCreationFlags.readOnlyProgram != 0,
                possibleCPUs: possibleCPUs, storage: storage, storageSize: storageSize,
                auxiliary: auxiliary))
        switch spec.type.info?.storage {
        case .hash: HashTable.initialize(core)
        case .lpmTrie: LPMTrie.initialize(core)
        case .ringbuf: RingBuffer.initialize(core)
        default: break
        }
        if let initial = spec.initialValue, !initial.isEmpty {
            initial.withUnsafeBytes { storage.copyMemory(from: $0.baseAddress!, byteCount: initial.count) }
        }
    }

    deinit {
        core.pointee.storage.deallocate()
        core.pointee.auxiliary?.deallocate()
        core.deinitialize(count: 1)
        core.deallocate()
    }

    /// Whether a program loaded from `other` may share this map instead of creating its own, as libbpf reuses a
    /// pinned map: same type, key size, value size, max entries and flags. Global data (`.rodata`, `.data`, `.bss`:
    /// initial contents come from the new object) and PROG_ARRAY (slots point at the old program's code) never are.
    public func canBeReused(for other: MapSpec, possibleCPUs: Int) -> Bool {
        spec.type == other.type && spec.keySize == other.keySize && spec.valueSize == other.valueSize
            && spec.maxEntries == other.maxEntries && spec.flags == other.flags
            && self.possibleCPUs == possibleCPUs && spec.type != .progArray
            && spec.initialValue == nil && other.initialValue == nil
            && !spec.readOnlyForProgram && !other.readOnlyForProgram && !spec.name.hasPrefix(".")
            && other.initialPrograms.isEmpty
    }

    // MARK: Definition checks

    private static func invalid(_ spec: MapSpec, _ reason: String, _ errno: Int32 = MapErrno.invalid) -> MapError {
        .invalidDefinition(map: spec.name, reason: reason, errno: errno)
    }

    /// Checks the definition as the kernel's `map_alloc_check` functions do and returns the bytes of storage and
    /// auxiliary memory it needs.
    static func layout(of spec: MapSpec, possibleCPUs: Int) throws(MapError) -> (storage: Int, auxiliary: Int) {
        let key = spec.keySize
        let value = spec.valueSize
        let entries = spec.maxEntries
        guard possibleCPUs >= 1 && possibleCPUs <= Limits.possibleCPUsMax else {
            throw invalid(spec, "possible CPUs must be 1…\(Limits.possibleCPUsMax), got \(possibleCPUs)")
        }
        guard key >= 0 && key <= Int(UInt32.max) else { throw invalid(spec, "key size \(key) out of range") }
        guard value >= 0 && value <= Int(UInt32.max) else { throw invalid(spec, "value size \(value) out of range") }
        guard entries > 0 else { throw invalid(spec, "max_entries must be greater than 0, got \(entries)") }
        guard entries <= Int(UInt32.max) else {
            throw invalid(spec, "max_entries \(entries) does not fit in 32 bits", MapErrno.tooBig)
        }
        if spec.initialValue != nil && (spec.type != .array || entries != 1) {
            throw invalid(spec, "initial contents are only for global data (an array of one value)")
        }
        if let initial = spec.initialValue, initial.count > value {
            throw invalid(spec, "initial contents are \(initial.count) bytes, the value is \(value)")
        }
        let stride = MapMemory.roundUp8(value)
        let copies = spec.type.isPerCPU ? possibleCPUs : 1
        var storage: Int
        var auxiliary = 0

        func product(_ factors: Int...) throws(MapError) -> Int {
            var result = 1
            for factor in factors {
                let (p, overflow) = result.multipliedReportingOverflow(by: factor)
                guard !overflow && p <= Limits.memoryMax else {
                    throw invalid(
                        spec, "needs more memory than Sluice's limit of \(Limits.memoryMax) bytes",
                        MapErrno.outOfMemory)
                }
                result = p
            }
            return result
        }

        switch spec.type {
        case .array, .percpuArray:
            guard key == 4 else { throw invalid(spec, "array key size must be 4, got \(key)") }
            guard value > 0 else { throw invalid(spec, "value size must be greater than 0") }
            guard value <= Limits.kmallocMax else {
                throw invalid(spec, "value size \(value) exceeds \(Limits.kmallocMax)", MapErrno.tooBig)
            }
            if spec.type == .percpuArray && value > Limits.perCPUValueMax {
                throw invalid(spec, "per-CPU value size \(value) exceeds \(Limits.perCPUValueMax)", MapErrno.tooBig)
            }
            storage = try product(entries, copies, stride)

        case .hash, .percpuHash, .lruHash, .lruPercpuHash:
            guard key > 0 && value > 0 else { throw invalid(spec, "hash key and value sizes must be greater than 0") }
            guard key <= Limits.hashKeyMax else {
                throw invalid(spec, "key size \(key) exceeds \(Limits.hashKeyMax)", MapErrno.tooBig)
            }
            guard value < Limits.kmallocMax - Limits.hashKeyMax - 48 else {
                throw invalid(spec, "value size \(value) too large", MapErrno.tooBig)
            }
            if spec.type.isPerCPU && value > Limits.perCPUValueMax {
                throw invalid(spec, "per-CPU value size \(value) exceeds \(Limits.perCPUValueMax)", MapErrno.tooBig)
            }
            if (spec.type == .lruHash || spec.type == .lruPercpuHash) && spec.flags & MapCreationFlags.noPrealloc != 0 {
                throw invalid(spec, "LRU hash maps cannot be created with BPF_F_NO_PREALLOC", MapErrno.notSupported)
            }
            guard entries <= 1 << 31 else { throw invalid(spec, "max_entries \(entries) too large", MapErrno.tooBig) }
            let element = HashTable.headerSize + MapMemory.roundUp8(key) + stride * copies
            storage = try product(entries, element)
            let lru = spec.type == .lruHash || spec.type == .lruPercpuHash
            auxiliary = try product(HashTable.auxiliarySize(maxEntries: entries, lruCPUs: lru ? possibleCPUs : nil))

        case .devmapHash:
            guard key == 4 else { throw invalid(spec, "devmap_hash key size must be 4, got \(key)") }
            guard value == 4 || value == 8 else {
                throw invalid(spec, "devmap_hash value size must be 4 or 8 (struct bpf_devmap_val), got \(value)")
            }
            guard entries <= 1 << 31 else { throw invalid(spec, "max_entries \(entries) too large", MapErrno.tooBig) }
            storage = try product(entries, HashTable.headerSize + 8 + stride)
            auxiliary = try product(HashTable.auxiliarySize(maxEntries: entries))

        case .lpmTrie:
            guard spec.flags & MapCreationFlags.noPrealloc != 0 else {
                throw invalid(spec, "LPM tries must be created with BPF_F_NO_PREALLOC")
            }
            guard key >= 5 && key <= 4 + 256 else {
                throw invalid(spec, "LPM key size must be 4 + 1…256 data bytes, got \(key)")
            }
            guard value >= 1 && value <= Limits.kmallocMax - 256 - 24 else {
                throw invalid(spec, "LPM value size \(value) out of range")
            }
            let node = LPMTrie.headerSize + MapMemory.roundUp8(key - 4) + stride
            storage = try product(LPMTrie.nodeCount(maxEntries: entries), node)
            auxiliary = MapAuxiliaryHeader.size

        case .progArray:
            guard key == 4 && value == 4 else {
                throw invalid(spec, "prog_array key and value sizes must be 4, got \(key) and \(value)")
            }
            storage = try product(entries, 8)

        case .devmap, .cpumap, .xskmap:
            guard key == 4 else { throw invalid(spec, "\(spec.type) key size must be 4, got \(key)") }
            let allowed = spec.type == .xskmap ? "4" : "4 or 8"
            guard value == 4 || (value == 8 && spec.type != .xskmap) else {
                throw invalid(spec, "\(spec.type) value size must be \(allowed), got \(value)")
            }
            storage = try product(entries, SlotMap.slotSize)

        case .perfEventArray:
            guard key == 4 && value == 4 else {
                throw invalid(spec, "perf_event_array key and value sizes must be 4, got \(key) and \(value)")
            }
            storage = try product(PerfEventArray.storageSize(maxEntries: entries))
            auxiliary = MapAuxiliaryHeader.size

        case .ringbuf:
            guard key == 0 && value == 0 else { throw invalid(spec, "ring buffer key and value sizes must be 0") }
            guard entries & (entries - 1) == 0 && entries % Limits.pageSize == 0 else {
                throw invalid(
                    spec, "ring buffer size \(entries) must be a power of 2 and a multiple of \(Limits.pageSize)")
            }
            storage = try product(2, entries) + RingBuffer.dataOffset
            auxiliary = MapAuxiliaryHeader.size

        default:
            throw .unsupportedType(map: spec.name, type: spec.type)
        }
        guard storage + auxiliary <= Limits.memoryMax else {
            throw invalid(
                spec, "needs more memory than Sluice's limit of \(Limits.memoryMax) bytes", MapErrno.outOfMemory)
        }
        return (storage, auxiliary)
    }

    // MARK: Program-facing memory

    /// The memory a program may touch in checked mode: value storage (read-only for read-only maps and redirect
    /// maps), the data area of a ring buffer. PROG_ARRAY and CPUMAP expose nothing.
    public var regions: [MemoryRegion] {
        let c = core.pointee
        let start = UInt(bitPattern: c.storage)
        switch spec.type {
        case _ where spec.type.info?.programWritable == true:
            return [MemoryRegion(start: start, end: start + UInt(c.storageSize), writable: !c.readOnly)]
        case .devmap, .xskmap, .devmapHash:
            return [MemoryRegion(start: start, end: start + UInt(c.storageSize), writable: false)]
        case .ringbuf:
            return [
                MemoryRegion(
                    start: start + UInt(RingBuffer.dataOffset), end: start + UInt(c.storageSize), writable: true)
            ]
        default:
            return []
        }
    }

    /// The address an `lddw` map-value pseudo load (`BPF_PSEUDO_MAP_VALUE`) yields: the value of index 0 plus
    /// `offset`. As in the kernel (`array_map_direct_value_addr`), only ARRAY maps with `max_entries` 1 (global data)
    /// qualify, and `offset` must lie inside the value.
    public func valueAddress(offset: Int) -> UInt64? {
        guard spec.type == .array, spec.maxEntries == 1, offset >= 0, offset < spec.valueSize else { return nil }
        return UInt64(UInt(bitPattern: core.pointee.storage + offset))
    }

    // MARK: Swift API

    private func failed(_ operation: String, _ result: Int64) -> MapError {
        .operationFailed(map: name, operation: operation, errno: Int32(-result))
    }

    private func checkKey(_ key: [UInt8]) throws(MapError) {
        guard key.count == spec.keySize else {
            throw .wrongSize(map: name, what: "key", expected: spec.keySize, actual: key.count)
        }
    }

    private func checkValue(_ value: [UInt8]) throws(MapError) {
        guard value.count == spec.valueSize else {
            throw .wrongSize(map: name, what: "value", expected: spec.valueSize, actual: value.count)
        }
    }

    /// Runs `body` under the map's lock (for maps that have one).
    private func locked<R>(_ body: () -> R) -> R {
        guard spec.type != .ringbuf, spec.type != .perfEventArray, let aux = core.pointee.auxiliary else {
            return body()
        }
        MapLock.lock(aux)
        defer { MapLock.unlock(aux) }
        return body()
    }

    /// Pointer to the first value of `key` (CPU 0 for per-CPU maps), as the syscall lookup finds it; nil if absent.
    /// LPM tries match the longest prefix. The caller holds the lock where there is one.
    private func valuePointer(key: UnsafeRawPointer) -> UnsafeMutableRawPointer? {
        switch spec.type.info?.storage {
        case .array: ArrayMap.value(core, index: key.loadUnaligned(as: UInt32.self), cpu: 0)
        case .hash: HashTable.lookup(core, key, cpu: 0, markUsed: false)
        case .lpmTrie: LPMTrie.lookup(core, key)
        case .slots: SlotMap.lookup(core, index: key.loadUnaligned(as: UInt32.self))
        default: nil
        }
    }

    private func values(at pointer: UnsafeMutableRawPointer, copies: Int) -> [[UInt8]] {
        (0..<copies).map { c in
            Array(UnsafeRawBufferPointer(start: pointer + c * core.pointee.valueStride, count: spec.valueSize))
        }
    }

    /// The value stored under `key` (CPU 0's for per-CPU maps), or nil if absent or the key has the wrong size.
    /// PROG_ARRAY and RINGBUF have no values to read (see `program(slot:)`, `drainRecords()`).
    public func lookup(key: [UInt8]) -> [UInt8]? {
        lookupPerCPU(key: key)?.first
    }

    /// Every CPU's value under `key` (one value for maps that are not per-CPU), or nil.
    public func lookupPerCPU(key: [UInt8]) -> [[UInt8]]? {
        guard key.count == spec.keySize, spec.type != .progArray, spec.type != .ringbuf else { return nil }
        if spec.type == .perfEventArray {
            guard let value = key.withUnsafeBytes({ SlotMap.lookup(core, index: $0.loadUnaligned(as: UInt32.self)) })
            else { return nil }
            return values(at: value, copies: 1)
        }
        let copies = spec.type.isPerCPU ? possibleCPUs : 1
        return locked {
            key.withUnsafeBytes { k in
                guard let base = k.baseAddress, let value = valuePointer(key: base) else { return nil }
                return values(at: value, copies: copies)
            }
        }
    }

    /// Creates or replaces `key`'s value (replicated to every CPU for per-CPU maps), with the kernel's flag
    /// semantics (`MapUpdateFlags`). DEVMAP/CPUMAP values naming a program are refused (Sluice runs no second
    /// program there); PROG_ARRAY slots are set with `setProgram`.
    public func update(key: [UInt8], value: [UInt8], flags: UInt64 = MapUpdateFlags.any) throws(MapError) {
        try checkKey(key)
        try checkValue(value)
        try update(key: key, packedValues: value, valueCPUStride: 0, flags: flags)
    }

    /// Creates or replaces `key` in a per-CPU map with one value per CPU (`values.count == possibleCPUs`).
    public func updatePerCPU(key: [UInt8], values: [[UInt8]], flags: UInt64 = MapUpdateFlags.any) throws(MapError) {
        try checkKey(key)
        guard spec.type.isPerCPU else {
            throw .unsupportedOperation(map: name, reason: "per-CPU values given for a \(spec.type) map")
        }
        guard values.count == possibleCPUs else {
            throw .wrongSize(map: name, what: "number of per-CPU values", expected: possibleCPUs, actual: values.count)
        }
        for value in values { try checkValue(value) }
        try update(key: key, packedValues: Array(values.joined()), valueCPUStride: spec.valueSize, flags: flags)
    }

    private func update(key: [UInt8], packedValues: [UInt8], valueCPUStride: Int, flags: UInt64) throws(MapError) {
        var packedValues = packedValues
        switch spec.type {
        case .progArray:
            throw .unsupportedOperation(
                map: name, reason: "prog_array slots hold programs: use setProgram(slot:handle:)")
        case .ringbuf:
            throw .unsupportedOperation(map: name, reason: "ring buffers have no keys; programs write records")
        case .devmap, .devmapHash, .cpumap:
            if spec.valueSize == 8 {
                let program = Int32(
                    bitPattern: UInt32(packedValues[4]) | UInt32(packedValues[5]) << 8
                        | UInt32(packedValues[6]) << 16 | UInt32(packedValues[7]) << 24)
                if program > 0 {
                    throw .unsupportedOperation(
                        map: name, reason: "\(spec.type) entries with a program (fd \(program)) are not supported")
                }
                // The kernel stores the program's id, 0 without a program (a negative fd means none).
                packedValues.replaceSubrange(4..<8, with: [0, 0, 0, 0])
            }
        default: break
        }
        let result: Int64 = key.withUnsafeBytes { k in
            packedValues.withUnsafeBytes { v in
                let key = k.baseAddress!
                let value = v.baseAddress!
                switch spec.type {
                case .array, .percpuArray:
                    return ArrayMap.update(core, key, value, valueCPUStride: valueCPUStride, onlyCPU: -1, flags: flags)
                case .hash, .percpuHash, .lruHash, .lruPercpuHash:
                    return HashTable.update(core, key, value, valueCPUStride: valueCPUStride, onlyCPU: -1, flags: flags)
                case .devmapHash:
                    // The kernel resolves the ifindex to a device; 0 names none (-EINVAL).
                    if value.loadUnaligned(as: UInt32.self) == 0 { return -Int64(MapErrno.invalid) }
                    return HashTable.update(core, key, value, valueCPUStride: 0, onlyCPU: -1, flags: flags)
                case .lpmTrie:
                    return LPMTrie.update(core, key, value, flags: flags)
                case .devmap, .xskmap, .cpumap:
                    return SlotMap.update(core, index: key.loadUnaligned(as: UInt32.self), value, flags: flags)
                case .perfEventArray:
                    // A perf event "fd": any value fills the slot (bpf_fd_array_map_update_elem's rules).
                    if flags != MapUpdateFlags.any { return -Int64(MapErrno.invalid) }
                    let index = key.loadUnaligned(as: UInt32.self)
                    if index >= core.pointee.maxEntries { return -Int64(MapErrno.tooBig) }
                    let slot = SlotMap.slot(core, index)
                    MapMemory.copy(slot + 8, value, count: 4)
                    SlotMap.setPresent(slot, true)
                    return 0
                default:
                    return -Int64(MapErrno.invalid)
                }
            }
        }
        if result != 0 { throw failed("update", result) }
    }

    /// Removes `key`, with the kernel's results: arrays refuse (EINVAL), absent keys give ENOENT (hash, LPM,
    /// PROG_ARRAY), DEVMAP/XSKMAP/CPUMAP slots are emptied whether or not they were filled.
    public func delete(key: [UInt8]) throws(MapError) {
        try checkKey(key)
        let result: Int64 = key.withUnsafeBytes { k in
            let key = k.baseAddress!
            switch spec.type.info?.storage {
            case .array: return -Int64(MapErrno.invalid)
            case .hash: return HashTable.delete(core, key)
            case .lpmTrie: return LPMTrie.delete(core, key)
            case .slots: return SlotMap.delete(core, index: key.loadUnaligned(as: UInt32.self))
            case .perfEventArray:
                let index = key.loadUnaligned(as: UInt32.self)
                if index >= core.pointee.maxEntries { return -Int64(MapErrno.tooBig) }
                let slot = SlotMap.slot(core, index)
                if !SlotMap.isPresent(slot) { return -Int64(MapErrno.noEntry) }
                SlotMap.setPresent(slot, false)
                return 0
            case .progArray:
                let index = key.loadUnaligned(as: UInt32.self)
                if index >= core.pointee.maxEntries { return -Int64(MapErrno.tooBig) }
                let slot = core.pointee.storage + Int(index) * 8
                if slot.load(as: UInt.self) == 0 { return -Int64(MapErrno.noEntry) }
                slot.storeBytes(of: 0, as: UInt.self)
                return 0
            case .ringbuf, nil: return -Int64(MapErrno.invalid)
            }
        }
        if result != 0 { throw failed("delete", result) }
    }

    /// Every entry, sorted by key bytes. Arrays list every index; PROG_ARRAY lists filled slots with no value
    /// bytes; ring buffers list nothing (see `drainRecords()`).
    public func entries() -> [MapEntry] {
        var result: [MapEntry] = []
        let copies = spec.type.isPerCPU ? possibleCPUs : 1
        func indexKey(_ i: UInt32) -> [UInt8] { withUnsafeBytes(of: i.littleEndian) { Array($0) } }
        locked {
            switch spec.type {
            case .array, .percpuArray:
                for i in 0..<UInt32(spec.maxEntries) {
                    if let value = ArrayMap.value(core, index: i, cpu: 0) {
                        result.append(MapEntry(key: indexKey(i), values: values(at: value, copies: copies)))
                    }
                }
            case .hash, .percpuHash, .lruHash, .lruPercpuHash, .devmapHash:
                HashTable.forEachElement(core) { key, value in
                    result.append(
                        MapEntry(
                            key: Array(UnsafeRawBufferPointer(start: key, count: spec.keySize)),
                            values: values(at: value, copies: copies)))
                }
            case .lpmTrie:
                LPMTrie.forEachEntry(core) { prefix, data, value in
                    let key = indexKey(prefix) + Array(UnsafeRawBufferPointer(start: data, count: spec.keySize - 4))
                    result.append(MapEntry(key: key, values: values(at: value, copies: 1)))
                }
            case .devmap, .xskmap, .cpumap, .perfEventArray:
                for i in 0..<UInt32(spec.maxEntries) {
                    if let value = SlotMap.lookup(core, index: i) {
                        result.append(MapEntry(key: indexKey(i), values: values(at: value, copies: 1)))
                    }
                }
            case .progArray:
                for i in 0..<UInt32(spec.maxEntries)
                where core.pointee.storage.load(fromByteOffset: Int(i) * 8, as: UInt.self) != 0 {
                    result.append(MapEntry(key: indexKey(i), values: []))
                }
            default:
                break
            }
        }
        return result.sorted { $0.key.lexicographicallyPrecedes($1.key) }
    }

    /// Entries currently in the map (hash and LPM: elements in use; arrays: `max_entries`; slot maps: filled slots).
    public var count: Int {
        switch spec.type {
        case .hash, .percpuHash, .lruHash, .lruPercpuHash, .devmapHash, .lpmTrie:
            Int(HashTable.header(core).pointee.count)
        case .array, .percpuArray: spec.maxEntries
        default: entries().count
        }
    }

    // MARK: PROG_ARRAY

    /// Fills (or, with nil, empties) a PROG_ARRAY slot; the interpreter's tail call reads it directly.
    public func setProgram(slot: Int, handle: UnsafePointer<CodeHandle>?) throws(MapError) {
        guard spec.type == .progArray else {
            throw .unsupportedOperation(map: name, reason: "setProgram on a \(spec.type) map")
        }
        guard slot >= 0 && slot < spec.maxEntries else {
            throw .operationFailed(map: name, operation: "set program slot \(slot)", errno: MapErrno.tooBig)
        }
        core.pointee.storage.storeBytes(of: UInt(bitPattern: handle), toByteOffset: slot * 8, as: UInt.self)
    }

    /// The program in a PROG_ARRAY slot, or nil.
    public func program(slot: Int) -> UnsafePointer<CodeHandle>? {
        guard spec.type == .progArray, slot >= 0, slot < spec.maxEntries else { return nil }
        return UnsafePointer(bitPattern: core.pointee.storage.load(fromByteOffset: slot * 8, as: UInt.self))
    }

    // MARK: RINGBUF

    /// Consumes the submitted records, in order (discarded ones skipped; stops at a record still reserved). For a
    /// PERF_EVENT_ARRAY, the records `bpf_perf_event_output` wrote (data, then packet bytes).
    public func drainRecords() -> [[UInt8]] {
        switch spec.type {
        case .ringbuf: RingBuffer.drain(core)
        case .perfEventArray: PerfEventArray.drain(core)
        default: []
        }
    }
}
