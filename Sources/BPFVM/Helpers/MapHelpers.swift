/// The map helpers, as `@convention(c)` functions the helper table binds by kernel id. The map argument is the
/// address of the map's `MapCore` (what `lddw` of a map yields); the per-CPU slot is the environment's
/// `processorID`. Results are the kernel's: pointers or 0, 0 or a negative errno.
public enum MapHelpers {
    /// `bpf_map_lookup_elem(map, key)` (id 1): pointer to the value, or 0.
    public static let lookupElem: HelperFunction = { env, map, key, _, _, _ in
        guard let core = UnsafeMutablePointer<MapCore>(bitPattern: UInt(map)),
            let key = UnsafeRawPointer(bitPattern: UInt(key))
        else { return 0 }
        let value = MapOperations.lookup(core, key: key, cpu: processor(env))
        return UInt64(UInt(bitPattern: value))
    }

    /// `bpf_map_update_elem(map, key, value, flags)` (id 2): 0 or -errno.
    public static let updateElem: HelperFunction = { env, map, key, value, flags, _ in
        guard let core = UnsafeMutablePointer<MapCore>(bitPattern: UInt(map)),
            let key = UnsafeRawPointer(bitPattern: UInt(key)), let value = UnsafeRawPointer(bitPattern: UInt(value))
        else { return UInt64(bitPattern: -Int64(MapErrno.invalid)) }
        return UInt64(bitPattern: MapOperations.update(core, key: key, value: value, flags: flags, cpu: processor(env)))
    }

    /// `bpf_map_delete_elem(map, key)` (id 3): 0 or -errno.
    public static let deleteElem: HelperFunction = { _, map, key, _, _, _ in
        guard let core = UnsafeMutablePointer<MapCore>(bitPattern: UInt(map)),
            let key = UnsafeRawPointer(bitPattern: UInt(key))
        else { return UInt64(bitPattern: -Int64(MapErrno.invalid)) }
        return UInt64(bitPattern: MapOperations.delete(core, key: key))
    }

    /// `bpf_redirect_map(map, key, flags)` (id 51), as `__bpf_xdp_redirect_map`: the key is truncated to 32 bits;
    /// flags other than the fallback action (low two bits) and, for DEVMAP/DEVMAP_HASH, `BPF_F_BROADCAST` /
    /// `BPF_F_EXCLUDE_INGRESS` give `XDP_ABORTED`; an entry found records the target in the environment and gives
    /// `XDP_REDIRECT`; otherwise the target is cleared and the fallback action returned. Broadcast is not
    /// supported: it gives `XDP_ABORTED`.
    public static let redirectMap: HelperFunction = { env, map, key, flags, _, _ in
        let aborted: UInt64 = 0
        let redirect: UInt64 = 4
        let actionMask: UInt64 = 3
        guard let core = UnsafeMutablePointer<MapCore>(bitPattern: UInt(map)) else { return aborted }
        let type = core.pointee.type
        let devmapFlags = RedirectMapFlags.broadcast | RedirectMapFlags.excludeIngress
        let allowed = actionMask | (type == MapTypeCode.devmap || type == MapTypeCode.devmapHash ? devmapFlags : 0)
        if flags & ~allowed != 0 || flags & RedirectMapFlags.broadcast != 0 { return aborted }
        let environment = env?.assumingMemoryBound(to: ExecutionEnvironment.self)
        if let target = MapOperations.redirectTarget(core, key: UInt32(truncatingIfNeeded: key)) {
            environment?.pointee.redirectKind = target.kind
            environment?.pointee.redirectValue = target.value
            return redirect
        }
        environment?.pointee.redirectKind = .none
        environment?.pointee.redirectValue = 0
        return flags & actionMask
    }

    /// `bpf_ringbuf_output(ringbuf, data, size, flags)` (id 130): 0, -EAGAIN when full, -EINVAL for bad flags.
    public static let ringbufOutput: HelperFunction = { _, map, data, size, flags, _ in
        guard let core = UnsafeMutablePointer<MapCore>(bitPattern: UInt(map)),
            let data = UnsafeRawPointer(bitPattern: UInt(data)) ?? (size == 0 ? UnsafeRawPointer(bitPattern: 8) : nil)
        else { return UInt64(bitPattern: -Int64(MapErrno.invalid)) }
        return UInt64(bitPattern: MapOperations.ringbufOutput(core, data: data, size: size, flags: flags))
    }

    /// `bpf_ringbuf_reserve(ringbuf, size, flags)` (id 131): a record pointer, or 0 (full, or flags ≠ 0).
    public static let ringbufReserve: HelperFunction = { _, map, size, flags, _, _ in
        guard let core = UnsafeMutablePointer<MapCore>(bitPattern: UInt(map)) else { return 0 }
        return UInt64(UInt(bitPattern: MapOperations.ringbufReserve(core, size: size, flags: flags)))
    }

    /// `bpf_ringbuf_submit(data, flags)` (id 132): publishes the record; returns 0 (the kernel's is void).
    public static let ringbufSubmit: HelperFunction = { _, data, flags, _, _, _ in
        if let record = UnsafeMutableRawPointer(bitPattern: UInt(data)) {
            MapOperations.ringbufSubmit(record: record, flags: flags)
        }
        return 0
    }

    /// `bpf_ringbuf_discard(data, flags)` (id 133): drops the record; returns 0 (the kernel's is void).
    public static let ringbufDiscard: HelperFunction = { _, data, flags, _, _, _ in
        if let record = UnsafeMutableRawPointer(bitPattern: UInt(data)) {
            MapOperations.ringbufDiscard(record: record, flags: flags)
        }
        return 0
    }

    /// `bpf_perf_event_output(ctx, map, flags, data, size)` (id 25) for XDP: `size` bytes of `data`, then the
    /// first `flags >> 32` bytes of the frame, into the PERF_EVENT_ARRAY slot `flags & 0xffffffff` (or the current
    /// CPU's); 0 or -errno (-ENOENT when no event is attached, as in `BPF_PROG_TEST_RUN`).
    public static let perfEventOutput: HelperFunction = { env, _, map, flags, data, size in
        guard let core = UnsafeMutablePointer<MapCore>(bitPattern: UInt(map)) else {
            return UInt64(bitPattern: -Int64(MapErrno.invalid))
        }
        var packet: UnsafeRawPointer? = nil
        var packetLength = 0
        if let environment = env?.assumingMemoryBound(to: ExecutionEnvironment.self),
            let start = environment.pointee.data, let end = environment.pointee.dataEnd
        {
            packet = UnsafeRawPointer(start)
            packetLength = end - start
        }
        let result = MapOperations.perfEventOutput(
            core, cpu: processor(env), flags: flags, data: UnsafeRawPointer(bitPattern: UInt(data)), size: size,
            packet: packet, packetLength: packetLength)
        return UInt64(bitPattern: result)
    }

    @inline(__always)
    static func processor(_ env: UnsafeMutableRawPointer?) -> Int {
        guard let env else { return 0 }
        return Int(env.assumingMemoryBound(to: ExecutionEnvironment.self).pointee.processorID)
    }
}
