import Synchronization

/// HASH, PERCPU_HASH, LRU_HASH, LRU_PERCPU_HASH and DEVMAP_HASH: a preallocated pool of `max_entries` elements
/// (the kernel's default) chained from a fixed, power-of-two bucket array.
///
/// `storage`: the element pool. Element layout (all offsets 8-aligned):
///
///     0  next      UInt32  bucket chain link, or free-list link (1-based, 0 = end)
///     4  hash      UInt32
///     8  lruPrev   UInt32  LRU list (types with LRU only)
///    12  lruNext   UInt32
///    16  ref       UInt32  LRU reference bit, set by program lookups
///    20  state     UInt32  1 while the element is in the table
///    24  key       keySize bytes, padded to 8
///     …  values    valueStride × (possibleCPUs for per-CPU types, else 1)
///
/// `auxiliary`: `MapAuxiliaryHeader`, then `bucketMask + 1` bucket heads (UInt32, 1-based).
///
/// LRU: the kernel keeps active/inactive lists with reference bits and evicts in batches from per-CPU free lists;
/// Sluice uses the same reference-bit idea in its simplest deterministic form (CLOCK / second chance): elements are
/// listed newest first; when the pool is empty, the oldest element is evicted unless its reference bit is set, in
/// which case the bit is cleared and the element moves to the front. A program lookup sets the bit; updates of an
/// existing key set it too (as the kernel does for the element that replaces the old one). Exactly one element is
/// evicted per insert into a full map (the kernel may evict up to 128 at once), and updating an existing key never
/// evicts (the kernel first takes a free element, which may evict).
enum HashTable {
    static let headerSize = 24

    @inline(__always)
    static func keyStride(_ core: UnsafeMutablePointer<MapCore>) -> Int { MapMemory.roundUp8(Int(core.pointee.keySize)) }

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

    // Link words are read by lock-free lookups while a writer changes them: atomic loads and stores.
    @inline(__always)
    static func loadWord(_ p: UnsafeMutableRawPointer) -> UInt32 {
        UnsafePointer<Atomic<UInt32>>(OpaquePointer(p)).pointee.load(ordering: .acquiring)
    }

    @inline(__always)
    static func storeWord(_ p: UnsafeMutableRawPointer, _ value: UInt32) {
        UnsafePointer<Atomic<UInt32>>(OpaquePointer(p)).pointee.store(value, ordering: .releasing)
    }

    /// Bytes of `auxiliary` for a map of `maxEntries` (header + buckets).
    static func auxiliarySize(maxEntries: Int) -> Int {
        MapAuxiliaryHeader.size + bucketCount(maxEntries: maxEntries) * 4
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
        var index = loadWord(bucket(core, hash))
        var steps: UInt32 = 0
        while index != 0 && steps <= core.pointee.maxEntries {
            let e = element(core, index)
            if e.load(fromByteOffset: 4, as: UInt32.self) == hash && loadWord(e + 20) == 1
                && MapMemory.equal(e + headerSize, key, count: keySize)
            {
                return index
            }
            index = loadWord(e)
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
            let e = element(core, existing)
            writeValues(core, e, value, valueCPUStride: valueCPUStride, onlyCPU: onlyCPU, fresh: false)
            if isLRU(core) { storeWord(e + 16, 1) }
            return 0
        }
        let h = header(core)
        var index = h.pointee.freeHead
        if index != 0 {
            h.pointee.freeHead = element(core, index).load(as: UInt32.self)
        } else if isLRU(core) {
            index = evict(core)
            if index == 0 { return -Int64(MapErrno.outOfMemory) }
        } else {
            return -Int64(MapErrno.tooBig)
        }
        let e = element(core, index)
        e.storeBytes(of: hash, toByteOffset: 4, as: UInt32.self)
        storeWord(e + 16, 0)
        MapMemory.copy(e + headerSize, key, count: Int(core.pointee.keySize))
        writeValues(core, e, value, valueCPUStride: valueCPUStride, onlyCPU: onlyCPU, fresh: true)
        storeWord(e + 20, 1)
        let head = bucket(core, hash)
        storeWord(e, loadWord(head))
        storeWord(head, index)
        if isLRU(core) { pushFront(core, index) }
        h.pointee.count += 1
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
        let h = header(core)
        element(core, index).storeBytes(of: h.pointee.freeHead, as: UInt32.self)
        h.pointee.freeHead = index
        return 0
    }

    /// Takes an element out of its bucket chain (and the LRU list); it is no longer found. Under the lock.
    static func remove(_ core: UnsafeMutablePointer<MapCore>, _ index: UInt32) {
        let e = element(core, index)
        storeWord(e + 20, 0)
        var link = bucket(core, e.load(fromByteOffset: 4, as: UInt32.self))
        var steps: UInt32 = 0
        while steps <= core.pointee.maxEntries {
            let current = loadWord(link)
            if current == 0 { break }
            if current == index {
                storeWord(link, loadWord(e))
                break
            }
            link = element(core, current)
            steps += 1
        }
        if isLRU(core) { unlinkLRU(core, index) }
        header(core).pointee.count -= 1
    }

    // MARK: LRU list (under the lock)

    static func pushFront(_ core: UnsafeMutablePointer<MapCore>, _ index: UInt32) {
        let h = header(core)
        let e = element(core, index)
        e.storeBytes(of: 0, toByteOffset: 8, as: UInt32.self)
        e.storeBytes(of: h.pointee.lruHead, toByteOffset: 12, as: UInt32.self)
        if h.pointee.lruHead != 0 {
            element(core, h.pointee.lruHead).storeBytes(of: index, toByteOffset: 8, as: UInt32.self)
        } else {
            h.pointee.lruTail = index
        }
        h.pointee.lruHead = index
    }

    static func unlinkLRU(_ core: UnsafeMutablePointer<MapCore>, _ index: UInt32) {
        let h = header(core)
        let e = element(core, index)
        let prev = e.load(fromByteOffset: 8, as: UInt32.self)
        let next = e.load(fromByteOffset: 12, as: UInt32.self)
        if prev != 0 { element(core, prev).storeBytes(of: next, toByteOffset: 12, as: UInt32.self) } else {
            h.pointee.lruHead = next
        }
        if next != 0 { element(core, next).storeBytes(of: prev, toByteOffset: 8, as: UInt32.self) } else {
            h.pointee.lruTail = prev
        }
    }

    /// Second-chance eviction from the old end of the list; returns the freed element (1-based) or 0.
    static func evict(_ core: UnsafeMutablePointer<MapCore>) -> UInt32 {
        let h = header(core)
        var steps: UInt32 = 0
        let limit = 2 &* h.pointee.count &+ 2
        while h.pointee.lruTail != 0 && steps < limit {
            let index = h.pointee.lruTail
            let e = element(core, index)
            if loadWord(e + 16) != 0 {
                storeWord(e + 16, 0)
                unlinkLRU(core, index)
                pushFront(core, index)
            } else {
                remove(core, index)
                return index
            }
            steps += 1
        }
        return 0
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
