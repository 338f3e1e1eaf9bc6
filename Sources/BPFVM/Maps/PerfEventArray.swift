/// PERF_EVENT_ARRAY, for `bpf_perf_event_output`: `max_entries` slots (one per CPU, as libbpf creates them),
/// each either empty or holding a perf event (in the kernel, a perf event fd opened by user space on that CPU;
/// here, any value set from outside), and one record buffer that `BPFMap.drainRecords()` empties.
///
/// `storage`: the slots (`SlotMap` layout, 16 bytes each), then at `recordsOffset` the records: `UInt32` length,
/// `UInt32` CPU, the bytes padded to 8. `auxiliary`: `MapAuxiliaryHeader` (`producer` = bytes of records in use).
///
/// As in the kernel's `__bpf_perf_event_output`: the index is `flags & BPF_F_INDEX_MASK` or the current CPU for
/// `BPF_F_CURRENT_CPU`; an index ≥ `max_entries` → -E2BIG, an empty slot → -ENOENT (what a program sees in
/// `BPF_PROG_TEST_RUN` when nobody listens), a slot of another CPU → -EOPNOTSUPP, a full buffer → -ENOSPC (the
/// kernel's perf ring drops the record the same way).
enum PerfEventArray {
    /// Bytes of record buffer per map.
    static let recordCapacity = 1 << 20
    /// `BPF_F_INDEX_MASK` / `BPF_F_CURRENT_CPU`.
    static let indexMask: UInt64 = 0xffff_ffff
    /// `BPF_F_CTXLEN_MASK`: bytes of the packet to append (XDP).
    static let contextLengthMask: UInt64 = 0xfffff << 32
    /// `EOPNOTSUPP`
    static let notSupportedErrno: Int64 = 95

    static func recordsOffset(maxEntries: Int) -> Int { MapMemory.roundUp8(maxEntries * SlotMap.slotSize + 63) & ~63 }

    static func storageSize(maxEntries: Int) -> Int { recordsOffset(maxEntries: maxEntries) + recordCapacity }

    /// `bpf_perf_event_output` for XDP (`bpf_xdp_event_output`): `size` bytes of `data`, then the first
    /// `flags >> 32` bytes of the packet (`packet`, `packetLength` bytes available).
    @inline(__always)
    static func output(
        _ core: UnsafeMutablePointer<MapCore>, cpu: Int, flags: UInt64, data: UnsafeRawPointer?, size: UInt64,
        packet: UnsafeRawPointer?, packetLength: Int
    ) -> Int64 {
        if flags & ~(contextLengthMask | indexMask) != 0 { return -Int64(MapErrno.invalid) }
        let packetBytes = Int((flags & contextLengthMask) >> 32)
        if packetBytes > packetLength || (packetBytes > 0 && packet == nil) { return -14 }  // -EFAULT
        var index = flags & indexMask
        if index == indexMask { index = UInt64(cpu) }
        if index >= UInt64(core.pointee.maxEntries) { return -Int64(MapErrno.tooBig) }
        if SlotMap.lookup(core, index: UInt32(index)) == nil { return -Int64(MapErrno.noEntry) }
        if index != UInt64(cpu) { return -notSupportedErrno }
        let length = Int(size) + packetBytes
        let recordSize = 8 + MapMemory.roundUp8(length)
        let aux = core.pointee.auxiliary.unsafelyUnwrapped
        let header = aux.assumingMemoryBound(to: MapAuxiliaryHeader.self)
        MapLock.lock(aux)
        defer { MapLock.unlock(aux) }
        let used = Int(header.pointee.producer)
        if size > UInt64(recordCapacity) || used + recordSize > recordCapacity { return -Int64(MapErrno.noSpace) }
        let record = core.pointee.storage + recordsOffset(maxEntries: Int(core.pointee.maxEntries)) + used
        record.storeBytes(of: UInt32(length), as: UInt32.self)
        record.storeBytes(of: UInt32(cpu), toByteOffset: 4, as: UInt32.self)
        if size > 0, let data { MapMemory.copy(record + 8, data, count: Int(size)) }
        if packetBytes > 0, let packet { MapMemory.copy(record + 8 + Int(size), packet, count: packetBytes) }
        header.pointee.producer = UInt64(used + recordSize)
        return 0
    }

    /// Takes every record written so far, in order.
    static func drain(_ core: UnsafeMutablePointer<MapCore>) -> [[UInt8]] {
        let aux = core.pointee.auxiliary.unsafelyUnwrapped
        let header = aux.assumingMemoryBound(to: MapAuxiliaryHeader.self)
        MapLock.lock(aux)
        defer { MapLock.unlock(aux) }
        var records: [[UInt8]] = []
        let base = core.pointee.storage + recordsOffset(maxEntries: Int(core.pointee.maxEntries))
        var offset = 0
        while offset < Int(header.pointee.producer) {
            let length = Int(base.load(fromByteOffset: offset, as: UInt32.self))
            records.append(Array(UnsafeRawBufferPointer(start: base + offset + 8, count: length)))
            offset += 8 + MapMemory.roundUp8(length)
        }
        header.pointee.producer = 0
        return records
    }
}
