import Synchronization

/// HASH, PERCPU_HASH, LRU_HASH, LRU_PERCPU_HASH and DEVMAP_HASH: a preallocated pool of `max_entries` elements
/// (the kernel's default) chained from a fixed, power-of-two bucket array.
///
/// `storage`: the element pool. Element layout (all offsets 8-aligned):
///
///     0  next      UInt32  bucket chain link, or free-list link (1-based, 0 = end)
///     4  hash      UInt32
///     8  lruType   UInt32  LRU types only: the list the element is on, and its CPU (see `LRUList`)
///    12  lruCPU    UInt32
///    16  ref       UInt32  LRU reference bit, set by program lookups
///    20  state     UInt32  1 while the element is in the table
///    24  key       keySize bytes, padded to 8
///     …  values    valueStride × (possibleCPUs for per-CPU types, else 1)
///
/// `auxiliary`: `MapAuxiliaryHeader`, then `bucketMask + 1` bucket heads (UInt32, 1-based).
///
/// LRU types keep their lists as the kernel does (`LRUList`); the list links and heads follow the buckets in
/// `auxiliary`.
///
/// Semantics as `kernel/bpf/hashtab.c`: unknown flags or `BPF_F_LOCK` → -EINVAL, `BPF_NOEXIST` on a present key
/// → -EEXIST, `BPF_EXIST` on an absent key → -ENOENT, a new key in a full map → -E2BIG (LRU: evicts instead),
/// delete of an absent key → -ENOENT. One difference: replacing an existing key of a HASH copies the new value into
/// the element in place, where the kernel links a new element and frees the old one — only a program that keeps a
/// value pointer across an update of the same key can tell.
///
/// Concurrency: every structural change happens under the map's spinlock (`MapLock`, one per map where the kernel
/// has one per bucket). Lookups take no lock: they follow chains whose links are read atomically and always hold
/// valid indices, at most `max_entries` steps, and accept only elements marked in the table — a lookup racing a
/// delete may still return the element being deleted, as an RCU reader in the kernel may.
enum HashTable: LinkWordAccess {
    static let headerSize = 24

    @inline(__always)
    static func keyStride(_ core: UnsafeMutablePointer<MapCore>) -> Int {
        MapMemory.roundUp8(Int(core.pointee.keySize))
    }

    @inline(__always)
    static func elementSize(_ core: UnsafeMutablePointer<MapCore>) -> Int {
        headerSize + keyStride(core) + core.pointee.valueStride * MapMemory.valueCopies(core)
    }

    @inline(__always)
    static func element(_ core: UnsafeMutablePointer<MapCore>, _ index: UInt32) -> UnsafeMutableRawPointer {
        core.pointee.storage + (Int(index) - 1) * elementSize(core)
    }

    @inline(__always)
    static func valuePointer(_ core: UnsafeMutablePointer<MapCore>, _ element: UnsafeMutableRawPointer)
        -> UnsafeMutableRawPointer
    {
        element + headerSize + keyStride(core)
    }

    @inline(__always)
    static func header(_ core: UnsafeMutablePointer<MapCore>) -> UnsafeMutablePointer<MapAuxiliaryHeader> {
        core.pointee.auxiliary.unsafelyUnwrapped.assumingMemoryBound(to: MapAuxiliaryHeader.self)
    }

    @inline(__always)
    static func bucket(_ core: UnsafeMutablePointer<MapCore>, _ hash: UInt32) -> UnsafeMutableRawPointer {
        let mask = header(core).pointee.bucketMask
        return core.pointee.auxiliary.unsafelyUnwrapped + MapAuxiliaryHeader.size + Int(hash & mask) * 4
    }

    @inline(__always)
    static func isLRU(_ core: UnsafeMutablePointer<MapCore>) -> Bool {
        core.pointee.type == MapTypeCode.lruHash || core.pointee.type == MapTypeCode.lruPercpuHash
    }

    /// A link word (1-based element index) from memory a program may write in checked mode: anything beyond the
    /// pool reads as "end", so a corrupted link can end a walk early but never leave the pool.
    @inline(__always)
    static func loadLink(_ core: UnsafeMutablePointer<MapCore>, _ p: UnsafeMutableRawPointer) -> UInt32 {
        let index = loadWord(p)
        return index <= core.pointee.maxEntries ? index : 0
    }

    /// Bytes of `auxiliary` for a map of `maxEntries` (header + buckets, and the LRU state for `lruCPUs` CPUs).
    static func auxiliarySize(maxEntries: Int, lruCPUs: Int? = nil) -> Int {
        let base = MapMemory.roundUp8(MapAuxiliaryHeader.size + bucketCount(maxEntries: maxEntries) * 4)
        guard let cpus = lruCPUs else { return base }
        return base + LRUList.stateSize(maxEntries: maxEntries, cpus: cpus)
    }

    /// The kernel's `roundup_pow_of_two(max_entries)` buckets.
    static func bucketCount(maxEntries: Int) -> Int {
        var n = 1
        while n < maxEntries { n <<= 1 }
        return n
    }

    /// Links every element into the free list and empties the buckets (memory is zeroed by the caller).
    static func initialize(_ core: UnsafeMutablePointer<MapCore>) {
        let h = header(core)
        h.pointee.bucketMask = UInt32(bucketCount(maxEntries: Int(core.pointee.maxEntries)) - 1)
        if isLRU(core) {
            LRUList.initialize(core)
            return
        }
        let n = core.pointee.maxEntries
        for i in 1...n {
            element(core, i).storeBytes(of: i == n ? 0 : i + 1, as: UInt32.self)
        }
        h.pointee.freeHead = 1
    }

    /// The element holding `key` (1-based), or 0. Lock-free; bounded by `max_entries` steps.
    @inline(__always)
    static func find(_ core: UnsafeMutablePointer<MapCore>, _ key: UnsafeRawPointer, _ hash: UInt32) -> UInt32 {
        let keySize = Int(core.pointee.keySize)
        var index = loadLink(core, bucket(core, hash))
        var steps: UInt32 = 0
        while index != 0 && steps <= core.pointee.maxEntries {
            let e = element(core, index)
            if e.load(fromByteOffset: 4, as: UInt32.self) == hash && loadWord(e + 20) == 1
                && MapMemory.equal(e + headerSize, key, count: keySize)
            {
                return index
            }
            index = loadLink(core, e)
            steps += 1
        }
        return 0
    }

    /// `map_lookup_elem`: the value of `key` for `cpu`, or nil. `markUsed` sets the LRU reference bit (program
    /// lookups do; lookups from outside do not, as the kernel's syscall path does not).
    @inline(__always)
    static func lookup(
        _ core: UnsafeMutablePointer<MapCore>, _ key: UnsafeRawPointer, cpu: Int, markUsed: Bool
    ) -> UnsafeMutableRawPointer? {
        let index = find(core, key, MapMemory.hash(key, count: Int(core.pointee.keySize)))
        if index == 0 { return nil }
        let e = element(core, index)
        if markUsed && isLRU(core) && loadWord(e + 16) == 0 { storeWord(e + 16, 1) }
        let copies = MapMemory.valueCopies(core)
        let slot = copies == 1 ? 0 : MapMemory.cpuSlot(cpu, core)
        return valuePointer(core, e) + slot * core.pointee.valueStride
    }

    /// `map_update_elem`. `value` holds one value (`valueCPUStride` 0) or one per CPU `valueCPUStride` apart;
    /// `onlyCPU` ≥ 0 writes just that CPU's slot (a program's update), −1 writes every slot.
    static func update(
        _ core: UnsafeMutablePointer<MapCore>, _ key: UnsafeRawPointer, _ value: UnsafeRawPointer,
        valueCPUStride: Int, onlyCPU: Int, flags: UInt64
    ) -> Int64 {
        if isLRU(core) {
            return updateLRU(core, key, value, valueCPUStride: valueCPUStride, onlyCPU: onlyCPU, flags: flags)
        }
        if flags & ~MapUpdateFlags.lock > MapUpdateFlags.exist { return -Int64(MapErrno.invalid) }
        if flags & MapUpdateFlags.lock != 0 { return -Int64(MapErrno.invalid) }
        let aux = core.pointee.auxiliary.unsafelyUnwrapped
        let hash = MapMemory.hash(key, count: Int(core.pointee.keySize))
        MapLock.lock(aux)
        defer { MapLock.unlock(aux) }
        let existing = find(core, key, hash)
        if existing != 0 && flags == MapUpdateFlags.noExist { return -Int64(MapErrno.exists) }
        // DEVMAP_HASH does not check BPF_EXIST (dev_map_hash_update_elem): an absent key is inserted.
        if existing == 0 && flags == MapUpdateFlags.exist && core.pointee.type != MapTypeCode.devmapHash {
            return -Int64(MapErrno.noEntry)
        }
        if existing != 0 {
            writeValues(
                core, element(core, existing), value, valueCPUStride: valueCPUStride, onlyCPU: onlyCPU, fresh: false)
            return 0
        }
        let h = header(core)
        let index = h.pointee.freeHead
        if index == 0 { return -Int64(MapErrno.tooBig) }
        h.pointee.freeHead = loadLink(core, element(core, index))
        let e = element(core, index)
        e.storeBytes(of: hash, toByteOffset: 4, as: UInt32.self)
        MapMemory.copy(e + headerSize, key, count: Int(core.pointee.keySize))
        writeValues(core, e, value, valueCPUStride: valueCPUStride, onlyCPU: onlyCPU, fresh: true)
        link(core, index, hash)
        return 0
    }

    /// Puts a filled element at the head of its bucket; it is found from now on. Under the lock.
    @inline(__always)
    static func link(_ core: UnsafeMutablePointer<MapCore>, _ index: UInt32, _ hash: UInt32) {
        let e = element(core, index)
        storeWord(e + 20, 1)
        let head = bucket(core, hash)
        storeWord(e, loadWord(head))
        storeWord(head, index)
        header(core).pointee.count &+= 1
    }

    /// `htab_lru_map_update_elem` / `__htab_lru_percpu_map_update_elem`: a free element is taken first (which may
    /// evict, even the key being updated) — except for a per-CPU update with BPF_EXIST — then the flags are
    /// checked; an unused element goes back. Plain LRU replaces an existing element by the new one (marked
    /// referenced); per-CPU LRU updates in place. The CPU whose lists are used is `onlyCPU`, or 0 from outside.
    static func updateLRU(
        _ core: UnsafeMutablePointer<MapCore>, _ key: UnsafeRawPointer, _ value: UnsafeRawPointer,
        valueCPUStride: Int, onlyCPU: Int, flags: UInt64
    ) -> Int64 {
        if flags > MapUpdateFlags.exist { return -Int64(MapErrno.invalid) }
        let aux = core.pointee.auxiliary.unsafelyUnwrapped
        let keySize = Int(core.pointee.keySize)
        let hash = MapMemory.hash(key, count: keySize)
        let perCPU = MapMemory.valueCopies(core) > 1
        let cpu = onlyCPU >= 0 ? MapMemory.cpuSlot(onlyCPU, core) : 0
        MapLock.lock(aux)
        defer { MapLock.unlock(aux) }
        var fresh: UInt32 = 0
        if !perCPU || flags != MapUpdateFlags.exist {
            fresh = LRUList.pop(core, cpu: cpu)
            if fresh == 0 { return -Int64(MapErrno.outOfMemory) }
            let e = element(core, fresh)
            e.storeBytes(of: hash, toByteOffset: 4, as: UInt32.self)
            MapMemory.copy(e + headerSize, key, count: keySize)
            if !perCPU { writeValues(core, e, value, valueCPUStride: valueCPUStride, onlyCPU: onlyCPU, fresh: true) }
        }
        let existing = find(core, key, hash)
        var refusal: Int64 = 0
        if existing != 0 && flags == MapUpdateFlags.noExist { refusal = -Int64(MapErrno.exists) }
        if existing == 0 && flags == MapUpdateFlags.exist { refusal = -Int64(MapErrno.noEntry) }
        if refusal != 0 {
            if fresh != 0 { LRUList.push(core, fresh) }
            return refusal
        }
        if perCPU {
            if existing != 0 {
                LRUList.setReferenced(core, existing, true)
                writeValues(
                    core, element(core, existing), value, valueCPUStride: valueCPUStride, onlyCPU: onlyCPU, fresh: false
                )
                if fresh != 0 { LRUList.push(core, fresh) }
            } else {
                writeValues(
                    core, element(core, fresh), value, valueCPUStride: valueCPUStride, onlyCPU: onlyCPU, fresh: true)
                link(core, fresh, hash)
            }
            return 0
        }
        link(core, fresh, hash)
        if existing != 0 {
            LRUList.setReferenced(core, fresh, true)
            remove(core, existing)
            LRUList.push(core, existing)
        }
        return 0
    }

    /// Copies the value(s) into an element. A fresh element written for one CPU gets zeros in the other CPUs'
    /// slots (the kernel's `pcpu_init_value`), so a program can rely on known initial values.
    @inline(__always)
    static func writeValues(
        _ core: UnsafeMutablePointer<MapCore>, _ e: UnsafeMutableRawPointer, _ value: UnsafeRawPointer,
        valueCPUStride: Int, onlyCPU: Int, fresh: Bool
    ) {
        let copies = MapMemory.valueCopies(core)
        let stride = core.pointee.valueStride
        let size = Int(core.pointee.valueSize)
        let values = valuePointer(core, e)
        let target = copies == 1 ? (onlyCPU < 0 ? -1 : 0) : (onlyCPU < 0 ? -1 : MapMemory.cpuSlot(onlyCPU, core))
        for c in 0..<copies {
            let destination = values + c * stride
            if target < 0 || c == target {
                MapMemory.copy(destination, value + c * valueCPUStride, count: size)
            } else if fresh {
                MapMemory.zero(destination, count: stride)
            }
        }
    }

    /// `map_delete_elem`: 0 or -ENOENT.
    static func delete(_ core: UnsafeMutablePointer<MapCore>, _ key: UnsafeRawPointer) -> Int64 {
        let aux = core.pointee.auxiliary.unsafelyUnwrapped
        let hash = MapMemory.hash(key, count: Int(core.pointee.keySize))
        MapLock.lock(aux)
        defer { MapLock.unlock(aux) }
        let index = find(core, key, hash)
        if index == 0 { return -Int64(MapErrno.noEntry) }
        remove(core, index)
        if isLRU(core) {
            LRUList.push(core, index)
            return 0
        }
        let h = header(core)
        element(core, index).storeBytes(of: h.pointee.freeHead, as: UInt32.self)
        h.pointee.freeHead = index
        return 0
    }

    /// The LRU's `del_from_htab`: takes an element out of the table if it is in it.
    static func evictFromTable(_ core: UnsafeMutablePointer<MapCore>, _ index: UInt32) -> Bool {
        if loadWord(element(core, index) + 20) != 1 { return false }
        remove(core, index)
        return true
    }

    /// Takes an element out of its bucket chain; it is no longer found. Under the lock.
    static func remove(_ core: UnsafeMutablePointer<MapCore>, _ index: UInt32) {
        let e = element(core, index)
        storeWord(e + 20, 0)
        var link = bucket(core, e.load(fromByteOffset: 4, as: UInt32.self))
        var steps: UInt32 = 0
        while steps <= core.pointee.maxEntries {
            let current = loadLink(core, link)
            if current == 0 { break }
            if current == index {
                storeWord(link, loadLink(core, e))
                break
            }
            link = element(core, current)
            steps += 1
        }
        header(core).pointee.count &-= 1
    }

    /// Every element in the table, in pool order (for dumps; the caller holds the lock).
    static func forEachElement(
        _ core: UnsafeMutablePointer<MapCore>, _ body: (UnsafeMutableRawPointer, UnsafeMutableRawPointer) -> Void
    ) {
        for index in 1...core.pointee.maxEntries {
            let e = element(core, index)
            if loadWord(e + 20) == 1 { body(e + headerSize, valuePointer(core, e)) }
        }
    }
}
