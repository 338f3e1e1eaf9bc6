import Synchronization

/// RINGBUF: `max_entries` bytes of data area, records of an 8-byte header plus the data rounded up to 8, positions
/// that only grow (`producer`, `consumer` in `MapAuxiliaryHeader`), capacity accounted as in the kernel: a
/// reservation fails when it would put the producer `max_entries` bytes or more ahead of the consumer.
///
/// The kernel maps the data area twice so that a record crossing the end is contiguous. Sluice allocates
/// `2 × max_entries` bytes instead and lets a record run past the end linearly; since the positions are the kernel's,
/// the record at position `p` always lives at `data + (p mod max_entries)` and capacity is unchanged.
///
/// `storage`: the owning `MapCore` pointer at offset 0 (so `submit`/`discard`, which get only the record, find the
/// map), then the data area at `dataOffset`. Record header: `UInt32` length with `busy` (bit 31) and `discarded`
/// (bit 30), and `UInt32` offset of the header from `storage` (the kernel's `pg_off`).
enum RingBuffer {
    static let dataOffset = 64
    static let headerSize = 8
    static let busy: UInt32 = 1 << 31
    static let discarded: UInt32 = 1 << 30
    /// The kernel's `RINGBUF_MAX_RECORD_SZ` (UINT_MAX / 4).
    static let maxRecordSize: UInt64 = UInt64(UInt32.max / 4)

    static func storageSize(maxEntries: Int) -> Int { dataOffset + 2 * maxEntries }

    @inline(__always)
    static func header(_ core: UnsafeMutablePointer<MapCore>) -> UnsafeMutablePointer<MapAuxiliaryHeader> {
        core.pointee.auxiliary.unsafelyUnwrapped.assumingMemoryBound(to: MapAuxiliaryHeader.self)
    }

    @inline(__always)
    static func producer(_ core: UnsafeMutablePointer<MapCore>) -> UnsafePointer<Atomic<UInt64>> {
        UnsafePointer<Atomic<UInt64>>(
            OpaquePointer(core.pointee.auxiliary.unsafelyUnwrapped + MapAuxiliaryHeader.producerOffset))
    }

    @inline(__always)
    static func consumer(_ core: UnsafeMutablePointer<MapCore>) -> UnsafePointer<Atomic<UInt64>> {
        UnsafePointer<Atomic<UInt64>>(
            OpaquePointer(core.pointee.auxiliary.unsafelyUnwrapped + MapAuxiliaryHeader.consumerOffset))
    }

    @inline(__always)
    static func lengthWord(_ header: UnsafeMutableRawPointer) -> UnsafePointer<Atomic<UInt32>> {
        UnsafePointer<Atomic<UInt32>>(OpaquePointer(header))
    }

    static func initialize(_ core: UnsafeMutablePointer<MapCore>) {
        core.pointee.storage.storeBytes(of: UInt(bitPattern: core), as: UInt.self)
    }

    /// `bpf_ringbuf_reserve`: a record of `size` bytes, or nil when it does not fit (or `flags` ≠ 0).
    @inline(__always)
    static func reserve(_ core: UnsafeMutablePointer<MapCore>, size: UInt64, flags: UInt64)
        -> UnsafeMutableRawPointer?
    {
        if flags != 0 || size > maxRecordSize { return nil }
        let capacity = UInt64(core.pointee.maxEntries)
        let length = (size + UInt64(headerSize) + 7) & ~7
        if length > capacity { return nil }
        let aux = core.pointee.auxiliary.unsafelyUnwrapped
        MapLock.lock(aux)
        defer { MapLock.unlock(aux) }
        let consumed = consumer(core).pointee.load(ordering: .acquiring)
        let produced = producer(core).pointee.load(ordering: .relaxed)
        let next = produced + length
        if next - consumed > capacity - 1 { return nil }
        let offset = dataOffset + Int(produced & (capacity - 1))
        let record = core.pointee.storage + offset
        record.storeBytes(of: UInt32(offset), toByteOffset: 4, as: UInt32.self)
        lengthWord(record).pointee.store(UInt32(size) | busy, ordering: .relaxed)
        producer(core).pointee.store(next, ordering: .releasing)
        return record + headerSize
    }

    /// `bpf_ringbuf_submit` / `bpf_ringbuf_discard`: publishes the record (the wake-up flags mean nothing here).
    @inline(__always)
    static func commit(_ record: UnsafeMutableRawPointer, discard: Bool) {
        let header = record - headerSize
        let length = lengthWord(header).pointee.load(ordering: .relaxed) & ~(busy | discarded)
        lengthWord(header).pointee.store(discard ? length | discarded : length, ordering: .releasing)
    }

    /// `bpf_ringbuf_output`: 0, -EINVAL for unknown flags, -EAGAIN when full.
    @inline(__always)
    static func output(_ core: UnsafeMutablePointer<MapCore>, _ data: UnsafeRawPointer, size: UInt64, flags: UInt64)
        -> Int64
    {
        if flags & ~(RingbufFlags.noWakeup | RingbufFlags.forceWakeup) != 0 { return -Int64(MapErrno.invalid) }
        guard let record = reserve(core, size: size, flags: 0) else { return -Int64(MapErrno.tryAgain) }
        MapMemory.copy(record, data, count: Int(size))
        commit(record, discard: false)
        return 0
    }

    /// The map a record belongs to, from the header's offset and the pointer at the start of `storage`.
    @inline(__always)
    static func owner(ofRecord record: UnsafeMutableRawPointer) -> UnsafeMutablePointer<MapCore>? {
        let header = record - headerSize
        let storage = header - Int(header.load(fromByteOffset: 4, as: UInt32.self))
        return UnsafeMutablePointer<MapCore>(bitPattern: storage.load(as: UInt.self))
    }

    /// Consumes every record published so far, in order, stopping at the first one still reserved; discarded
    /// records are skipped. One consumer at a time.
    static func drain(_ core: UnsafeMutablePointer<MapCore>) -> [[UInt8]] {
        var records: [[UInt8]] = []
        let capacity = UInt64(core.pointee.maxEntries)
        var consumed = consumer(core).pointee.load(ordering: .relaxed)
        let produced = producer(core).pointee.load(ordering: .acquiring)
        while consumed < produced {
            let header = core.pointee.storage + dataOffset + Int(consumed & (capacity - 1))
            let word = lengthWord(header).pointee.load(ordering: .acquiring)
            if word & busy != 0 { break }
            let length = Int(word & ~(busy | discarded))
            // Headers live in memory the program can write (checked mode): a length that cannot be right ends the
            // drain instead of reading past the data area.
            if UInt64(length + headerSize) > capacity { break }
            if word & discarded == 0 {
                records.append(Array(UnsafeRawBufferPointer(start: header + headerSize, count: length)))
            }
            consumed += UInt64((length + headerSize + 7) & ~7)
        }
        consumer(core).pointee.store(consumed, ordering: .releasing)
        return records
    }

    /// Bytes reserved and not yet consumed (the kernel's `producer_pos − consumer_pos`).
    static func pendingBytes(_ core: UnsafeMutablePointer<MapCore>) -> Int {
        Int(producer(core).pointee.load(ordering: .acquiring) - consumer(core).pointee.load(ordering: .acquiring))
    }
}
