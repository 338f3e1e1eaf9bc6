import Synchronization

/// ARRAY and PERCPU_ARRAY (and global data, which is an ARRAY of one value): `storage` holds
/// `max_entries × copies` values `valueStride` apart, index-major (`copies` = possible CPUs for PERCPU_ARRAY, else
/// 1). Every index always exists. Values are read and written in place without locks: programs update them with
/// atomic instructions, as in the kernel.
enum ArrayMap {
    @inline(__always)
    static func value(_ core: UnsafeMutablePointer<MapCore>, index: UInt32, cpu: Int) -> UnsafeMutableRawPointer? {
        if index >= core.pointee.maxEntries { return nil }
        let copies = MapMemory.valueCopies(core)
        let slot = copies == 1 ? 0 : MapMemory.cpuSlot(cpu, core)
        return core.pointee.storage + (Int(index) * copies + slot) * core.pointee.valueStride
    }

    /// `array_map_update_elem`: flags checked in the kernel's order; `onlyCPU` as in `HashTable.update`.
    static func update(
        _ core: UnsafeMutablePointer<MapCore>, _ key: UnsafeRawPointer, _ value: UnsafeRawPointer,
        valueCPUStride: Int, onlyCPU: Int, flags: UInt64
    ) -> Int64 {
        if flags & ~MapUpdateFlags.lock > MapUpdateFlags.exist { return -Int64(MapErrno.invalid) }
        let index = key.loadUnaligned(as: UInt32.self)
        if index >= core.pointee.maxEntries { return -Int64(MapErrno.tooBig) }
        if flags & MapUpdateFlags.noExist != 0 { return -Int64(MapErrno.exists) }
        if flags & MapUpdateFlags.lock != 0 { return -Int64(MapErrno.invalid) }
        let copies = MapMemory.valueCopies(core)
        let stride = core.pointee.valueStride
        let size = Int(core.pointee.valueSize)
        let base = core.pointee.storage + Int(index) * copies * stride
        if copies == 1 {
            MapMemory.copy(base, value, count: size)
        } else if onlyCPU >= 0 {
            MapMemory.copy(base + MapMemory.cpuSlot(onlyCPU, core) * stride, value, count: size)
        } else {
            for c in 0..<copies { MapMemory.copy(base + c * stride, value + c * valueCPUStride, count: size) }
        }
        return 0
    }
}

/// DEVMAP, XSKMAP and CPUMAP: `max_entries` slots of 16 bytes — a presence word at 0 and the value (4 or 8 bytes:
/// `struct bpf_devmap_val` / `bpf_cpumap_val` / an AF_XDP socket index) at 8. Programs may only look entries up
/// (DEVMAP, XSKMAP) and redirect to them; the entries are filled from outside.
enum SlotMap {
    static let slotSize = 16

    @inline(__always)
    static func slot(_ core: UnsafeMutablePointer<MapCore>, _ index: UInt32) -> UnsafeMutableRawPointer {
        core.pointee.storage + Int(index) * slotSize
    }

    @inline(__always)
    static func isPresent(_ slot: UnsafeMutableRawPointer) -> Bool {
        UnsafePointer<Atomic<UInt32>>(OpaquePointer(slot)).pointee.load(ordering: .acquiring) != 0
    }

    @inline(__always)
    static func setPresent(_ slot: UnsafeMutableRawPointer, _ present: Bool) {
        UnsafePointer<Atomic<UInt32>>(OpaquePointer(slot)).pointee.store(present ? 1 : 0, ordering: .releasing)
    }

    /// The entry's value, or nil when the index is out of range or the slot is empty.
    @inline(__always)
    static func lookup(_ core: UnsafeMutablePointer<MapCore>, index: UInt32) -> UnsafeMutableRawPointer? {
        if index >= core.pointee.maxEntries { return nil }
        let s = slot(core, index)
        return isPresent(s) ? s + 8 : nil
    }

    /// Update from outside with the kernel's per-type rules (`dev_map_update_elem`, `xsk_map_update_elem`,
    /// `cpu_map_update_elem`). A DEVMAP ifindex of 0 or a CPUMAP qsize of 0 empties the slot, as in the kernel.
    static func update(
        _ core: UnsafeMutablePointer<MapCore>, index: UInt32, _ value: UnsafeRawPointer, flags: UInt64
    ) -> Int64 {
        if flags > MapUpdateFlags.exist { return -Int64(MapErrno.invalid) }
        if index >= core.pointee.maxEntries { return -Int64(MapErrno.tooBig) }
        let s = slot(core, index)
        let first = value.loadUnaligned(as: UInt32.self)
        let size = Int(core.pointee.valueSize)
        switch core.pointee.type {
        case MapTypeCode.xskmap:
            let present = isPresent(s)
            if present && flags == MapUpdateFlags.noExist { return -Int64(MapErrno.exists) }
            if !present && flags == MapUpdateFlags.exist { return -Int64(MapErrno.noEntry) }
        case MapTypeCode.cpumap:
            if flags == MapUpdateFlags.noExist { return -Int64(MapErrno.exists) }
            if first > 16384 { return -Int64(MapErrno.overflow) }
            if Int(index) >= core.pointee.possibleCPUs { return -Int64(MapErrno.noDevice) }
            if first == 0 {
                setPresent(s, false)
                return 0
            }
        default:  // DEVMAP
            if flags == MapUpdateFlags.noExist { return -Int64(MapErrno.exists) }
            if first == 0 {
                setPresent(s, false)
                return 0
            }
        }
        MapMemory.zero(s + 8, count: 8)
        MapMemory.copy(s + 8, value, count: size)
        setPresent(s, true)
        return 0
    }

    /// Delete from outside: -EINVAL beyond `max_entries`, else 0 whether or not the slot was filled (the kernel's
    /// `xchg(…, NULL)`).
    static func delete(_ core: UnsafeMutablePointer<MapCore>, index: UInt32) -> Int64 {
        if index >= core.pointee.maxEntries { return -Int64(MapErrno.invalid) }
        setPresent(slot(core, index), false)
        return 0
    }
}
