/// The per-packet map operations helpers call, on the `MapCore` a program holds and raw key/value pointers.
/// No allocation, ARC, existentials or closures: one `switch` on the map type. Results follow the kernel: a value
/// pointer or nil, 0 or a negative errno (`MapErrno`).
///
/// Operations the kernel's verifier would refuse for the map type (a program updating a DEVMAP, looking up a
/// PROG_ARRAY, writing a read-only map) are answered at run time with NULL / -EINVAL / -EPERM, for programs run
/// without the verifier.
public enum MapOperations {
    /// `bpf_map_lookup_elem` from a program: the value for `cpu`'s slot (per-CPU types), or nil.
    @inline(__always)
    public static func lookup(_ core: UnsafeMutablePointer<MapCore>, key: UnsafeRawPointer, cpu: Int)
        -> UnsafeMutableRawPointer?
    {
        switch core.pointee.type {
        case MapTypeCode.array, MapTypeCode.percpuArray:
            return ArrayMap.value(core, index: key.loadUnaligned(as: UInt32.self), cpu: cpu)
        case MapTypeCode.hash, MapTypeCode.percpuHash, MapTypeCode.lruHash, MapTypeCode.lruPercpuHash,
            MapTypeCode.devmapHash:
            return HashTable.lookup(core, key, cpu: cpu, markUsed: true)
        case MapTypeCode.lpmTrie:
            return LPMTrie.lookup(core, key)
        case MapTypeCode.devmap, MapTypeCode.xskmap:
            return SlotMap.lookup(core, index: key.loadUnaligned(as: UInt32.self))
        default:
            return nil
        }
    }

    /// `bpf_map_update_elem` from a program: 0 or -errno. A per-CPU update writes only `cpu`'s slot (and zeroes
    /// the other CPUs' slots of a new hash element).
    @inline(__always)
    public static func update(
        _ core: UnsafeMutablePointer<MapCore>, key: UnsafeRawPointer, value: UnsafeRawPointer, flags: UInt64,
        cpu: Int
    ) -> Int64 {
        if core.pointee.readOnly { return -Int64(MapErrno.notPermitted) }
        switch core.pointee.type {
        case MapTypeCode.array, MapTypeCode.percpuArray:
            return ArrayMap.update(core, key, value, valueCPUStride: 0, onlyCPU: cpu, flags: flags)
        case MapTypeCode.hash, MapTypeCode.percpuHash, MapTypeCode.lruHash, MapTypeCode.lruPercpuHash:
            return HashTable.update(core, key, value, valueCPUStride: 0, onlyCPU: cpu, flags: flags)
        case MapTypeCode.lpmTrie:
            return LPMTrie.update(core, key, value, flags: flags)
        default:
            return -Int64(MapErrno.invalid)
        }
    }

    /// `bpf_map_delete_elem` from a program: 0 or -errno (arrays: always -EINVAL).
    @inline(__always)
    public static func delete(_ core: UnsafeMutablePointer<MapCore>, key: UnsafeRawPointer) -> Int64 {
        switch core.pointee.type {
        case MapTypeCode.hash, MapTypeCode.percpuHash, MapTypeCode.lruHash, MapTypeCode.lruPercpuHash:
            if core.pointee.readOnly { return -Int64(MapErrno.notPermitted) }
            return HashTable.delete(core, key)
        case MapTypeCode.lpmTrie:
            if core.pointee.readOnly { return -Int64(MapErrno.notPermitted) }
            return LPMTrie.delete(core, key)
        default:
            return -Int64(MapErrno.invalid)
        }
    }

    /// `bpf_ringbuf_reserve`: a writable record of `size` bytes, or nil (full, `flags` ≠ 0, not a ring buffer).
    @inline(__always)
    public static func ringbufReserve(_ core: UnsafeMutablePointer<MapCore>, size: UInt64, flags: UInt64)
        -> UnsafeMutableRawPointer?
    {
        guard core.pointee.type == MapTypeCode.ringbuf else { return nil }
        return RingBuffer.reserve(core, size: size, flags: flags)
    }

    /// `bpf_ringbuf_submit`: makes a reserved record visible to the consumer. `flags` (wake-up hints) are ignored.
    @inline(__always)
    public static func ringbufSubmit(record: UnsafeMutableRawPointer, flags: UInt64) {
        RingBuffer.commit(record, discard: false)
    }

    /// `bpf_ringbuf_discard`: releases a reserved record; the consumer skips it.
    @inline(__always)
    public static func ringbufDiscard(record: UnsafeMutableRawPointer, flags: UInt64) {
        RingBuffer.commit(record, discard: true)
    }

    /// `bpf_ringbuf_output`: copies `size` bytes into a new record; 0, -EAGAIN (full) or -EINVAL (flags).
    @inline(__always)
    public static func ringbufOutput(
        _ core: UnsafeMutablePointer<MapCore>, data: UnsafeRawPointer, size: UInt64, flags: UInt64
    ) -> Int64 {
        guard core.pointee.type == MapTypeCode.ringbuf else { return -Int64(MapErrno.invalid) }
        return RingBuffer.output(core, data, size: size, flags: flags)
    }

    /// The redirect target `bpf_redirect_map` finds at `key`: DEVMAP/DEVMAP_HASH → interface (ifindex),
    /// XSKMAP → socket (the index stored in the entry), CPUMAP → CPU (the key). Nil if the entry is absent or the
    /// map is not a redirect map.
    @inline(__always)
    public static func redirectTarget(_ core: UnsafeMutablePointer<MapCore>, key: UInt32)
        -> (kind: RedirectKind, value: UInt32)?
    {
        switch core.pointee.type {
        case MapTypeCode.devmap:
            guard let entry = SlotMap.lookup(core, index: key) else { return nil }
            return (.interface, entry.load(as: UInt32.self))
        case MapTypeCode.devmapHash:
            var k = key
            guard let entry = HashTable.lookup(core, &k, cpu: 0, markUsed: false) else { return nil }
            return (.interface, entry.load(as: UInt32.self))
        case MapTypeCode.xskmap:
            guard let entry = SlotMap.lookup(core, index: key) else { return nil }
            return (.socket, entry.load(as: UInt32.self))
        case MapTypeCode.cpumap:
            guard SlotMap.lookup(core, index: key) != nil else { return nil }
            return (.cpu, key)
        default:
            return nil
        }
    }

    /// `bpf_perf_event_output` from an XDP program: `size` bytes of `data` and the first `flags >> 32` bytes of
    /// the packet into the slot's record buffer; 0 or -errno (see `PerfEventArray`).
    @inline(__always)
    public static func perfEventOutput(
        _ core: UnsafeMutablePointer<MapCore>, cpu: Int, flags: UInt64, data: UnsafeRawPointer?, size: UInt64,
        packet: UnsafeRawPointer?, packetLength: Int
    ) -> Int64 {
        guard core.pointee.type == MapTypeCode.perfEventArray else { return -Int64(MapErrno.invalid) }
        return PerfEventArray.output(
            core, cpu: cpu, flags: flags, data: data, size: size, packet: packet, packetLength: packetLength)
    }
}
