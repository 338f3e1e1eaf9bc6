/// The LRU of LRU_HASH and LRU_PERCPU_HASH, following the kernel's common LRU (`kernel/bpf/bpf_lru_list.c`) step
/// by step, so that which keys get evicted matches the kernel for the same sequence of operations on the same CPUs:
///
/// - a global list set — active, inactive, free — and per CPU a local free list and a local pending list;
/// - a new element comes from the CPU's local free list; when that is empty, the CPU's pending elements are
///   flushed to the global active (referenced) or inactive list, the lists are rotated, up to `freeTarget`
///   elements (≤ 128) move from the global free list to the local one, and if fewer were free the inactive list
///   is shrunk:
///   unreferenced inactive elements are evicted (up to the missing number — so a small full map loses every
///   element not looked up since it was inserted), or if none, one element is evicted ignoring reference bits;
/// - failing all that, an element is stolen from some CPU's local free or pending list (round robin);
/// - program lookups set the element's reference bit; rotations move referenced elements to the active list and
///   clear the bit.
///
/// `BPF_F_NO_COMMON_LRU` (per-CPU LRU lists) is not modelled: such maps use the common LRU too.
///
/// Layout: element header words 8 (`type`) and 12 (`cpu`) hold the node's list type and owning CPU, word 16 its
/// reference bit. The links (prev, next) of elements and of the list heads live in `auxiliary`, after the bucket
/// array and a small control block. Everything here runs under the map's lock.
enum LRUList {
    // List types, the kernel's `enum bpf_lru_list_type`.
    static let active: UInt32 = 0
    static let inactive: UInt32 = 1
    static let free: UInt32 = 2
    static let localFree: UInt32 = 3
    static let localPending: UInt32 = 4

    /// `LOCAL_FREE_TARGET` and `LOCAL_NR_SCANS`.
    static let localFreeTarget: UInt32 = 128
    static let scanLimit: UInt32 = 128

    /// The kernel's `lru->free_target` (Linux ≥ 6.16, "Adjust free target to avoid global starvation of LRU
    /// map"): how many elements a CPU takes at once — half of one CPU's share of the map, 1…128.
    static func freeTarget(maxEntries: UInt32, cpus: Int) -> UInt32 {
        min(max(maxEntries / UInt32(cpus) / 2, 1), localFreeTarget)
    }

    // MARK: Layout

    /// Bytes of LRU state after the buckets for `maxEntries` elements and `cpus` CPUs.
    static func stateSize(maxEntries: Int, cpus: Int) -> Int {
        16 + MapMemory.roundUp8(4 * cpus) + 8 * (maxEntries + 4 + 2 * cpus)
    }

    @inline(__always)
    static func control(_ core: UnsafeMutablePointer<MapCore>) -> UnsafeMutableRawPointer {
        let buckets = Int(HashTable.header(core).pointee.bucketMask) + 1
        return core.pointee.auxiliary.unsafelyUnwrapped + MapMemory.roundUp8(MapAuxiliaryHeader.size + 4 * buckets)
    }

    // Control block: activeCount, inactiveCount, nextInactiveRotation (a link index), freeTarget, then nextSteal
    // per CPU.
    @inline(__always)
    static func counts(_ core: UnsafeMutablePointer<MapCore>) -> UnsafeMutablePointer<UInt32> {
        control(core).assumingMemoryBound(to: UInt32.self)
    }

    @inline(__always)
    static func nextSteal(_ core: UnsafeMutablePointer<MapCore>) -> UnsafeMutablePointer<UInt32> {
        (control(core) + 16).assumingMemoryBound(to: UInt32.self)
    }

    /// Links: `(prev, next)` per index. Indices 1…N are elements; the list heads follow.
    @inline(__always)
    static func links(_ core: UnsafeMutablePointer<MapCore>) -> UnsafeMutablePointer<UInt32> {
        (control(core) + 16 + MapMemory.roundUp8(4 * core.pointee.possibleCPUs)).assumingMemoryBound(to: UInt32.self)
    }

    @inline(__always)
    static func head(_ core: UnsafeMutablePointer<MapCore>, _ type: UInt32) -> UInt32 {
        core.pointee.maxEntries + 1 + type  // active, inactive, free
    }

    @inline(__always)
    static func localFreeHead(_ core: UnsafeMutablePointer<MapCore>, _ cpu: Int) -> UInt32 {
        core.pointee.maxEntries + 4 + 2 * UInt32(cpu)
    }

    @inline(__always)
    static func localPendingHead(_ core: UnsafeMutablePointer<MapCore>, _ cpu: Int) -> UInt32 {
        core.pointee.maxEntries + 5 + 2 * UInt32(cpu)
    }

    // MARK: Circular doubly linked lists (the kernel's list_head)

    @inline(__always)
    static func prev(_ l: UnsafeMutablePointer<UInt32>, _ i: UInt32) -> UInt32 { l[Int(i) * 2] }

    @inline(__always)
    static func next(_ l: UnsafeMutablePointer<UInt32>, _ i: UInt32) -> UInt32 { l[Int(i) * 2 + 1] }

    @inline(__always)
    static func setLinks(_ l: UnsafeMutablePointer<UInt32>, _ i: UInt32, prev p: UInt32, next n: UInt32) {
        l[Int(i) * 2] = p
        l[Int(i) * 2 + 1] = n
    }

    @inline(__always)
    static func unlink(_ l: UnsafeMutablePointer<UInt32>, _ i: UInt32) {
        let p = prev(l, i)
        let n = next(l, i)
        l[Int(n) * 2] = p
        l[Int(p) * 2 + 1] = n
    }

    /// `list_add`: insert right after `head`.
    @inline(__always)
    static func insert(_ l: UnsafeMutablePointer<UInt32>, _ i: UInt32, after head: UInt32) {
        let n = next(l, head)
        setLinks(l, i, prev: head, next: n)
        l[Int(n) * 2] = i
        l[Int(head) * 2 + 1] = i
    }

    @inline(__always)
    static func moveToHead(_ l: UnsafeMutablePointer<UInt32>, _ i: UInt32, _ head: UInt32) {
        unlink(l, i)
        insert(l, i, after: head)
    }

    // MARK: Node fields

    @inline(__always)
    static func type(_ core: UnsafeMutablePointer<MapCore>, _ i: UInt32) -> UInt32 {
        HashTable.element(core, i).load(fromByteOffset: 8, as: UInt32.self)
    }

    @inline(__always)
    static func setType(_ core: UnsafeMutablePointer<MapCore>, _ i: UInt32, _ type: UInt32) {
        HashTable.element(core, i).storeBytes(of: type, toByteOffset: 8, as: UInt32.self)
    }

    @inline(__always)
    static func isReferenced(_ core: UnsafeMutablePointer<MapCore>, _ i: UInt32) -> Bool {
        HashTable.loadWord(HashTable.element(core, i) + 16) != 0
    }

    @inline(__always)
    static func setReferenced(_ core: UnsafeMutablePointer<MapCore>, _ i: UInt32, _ on: Bool) {
        HashTable.storeWord(HashTable.element(core, i) + 16, on ? 1 : 0)
    }

    @inline(__always)
    static func countChange(_ core: UnsafeMutablePointer<MapCore>, _ type: UInt32, _ delta: Int32) {
        if type <= inactive {
            counts(core)[Int(type)] = UInt32(bitPattern: Int32(bitPattern: counts(core)[Int(type)]) &+ delta)
        }
    }

    // MARK: Setup

    /// `bpf_lru_populate` + list initialisation: every element on the global free list (the last one first).
    static func initialize(_ core: UnsafeMutablePointer<MapCore>) {
        let l = links(core)
        let n = core.pointee.maxEntries
        let lastHead = localPendingHead(core, core.pointee.possibleCPUs - 1)
        for h in (n + 1)...lastHead { setLinks(l, h, prev: h, next: h) }
        counts(core)[0] = 0
        counts(core)[1] = 0
        counts(core)[2] = head(core, inactive)
        counts(core)[3] = freeTarget(maxEntries: n, cpus: core.pointee.possibleCPUs)
        for cpu in 0..<core.pointee.possibleCPUs { nextSteal(core)[cpu] = UInt32(cpu) }
        for i in 1...n {
            setType(core, i, free)
            setReferenced(core, i, false)
            insert(l, i, after: head(core, free))
        }
    }

    // MARK: Global list moves

    /// `__bpf_lru_node_move_to_free`.
    static func moveToFree(_ core: UnsafeMutablePointer<MapCore>, _ i: UInt32, list: UInt32, type target: UInt32) {
        let l = links(core)
        if counts(core)[2] == i { counts(core)[2] = prev(l, i) }
        countChange(core, type(core, i), -1)
        setType(core, i, target)
        moveToHead(l, i, list)
    }

    /// `__bpf_lru_node_move_in`: from a local list into a global one.
    static func moveIn(_ core: UnsafeMutablePointer<MapCore>, _ i: UInt32, type target: UInt32) {
        countChange(core, target, 1)
        setType(core, i, target)
        setReferenced(core, i, false)
        moveToHead(links(core), i, head(core, target))
    }

    /// `__bpf_lru_node_move`: between or within the global lists; clears the reference bit.
    static func move(_ core: UnsafeMutablePointer<MapCore>, _ i: UInt32, type target: UInt32) {
        let l = links(core)
        let current = type(core, i)
        if current != target {
            countChange(core, current, -1)
            countChange(core, target, 1)
            setType(core, i, target)
        }
        setReferenced(core, i, false)
        if counts(core)[2] == i { counts(core)[2] = prev(l, i) }
        moveToHead(l, i, head(core, target))
    }

    /// `__bpf_lru_list_rotate_active`.
    static func rotateActive(_ core: UnsafeMutablePointer<MapCore>) {
        let l = links(core)
        let activeHead = head(core, active)
        let first = next(l, activeHead)
        var node = prev(l, activeHead)
        var scanned: UInt32 = 0
        while node != activeHead {
            let earlier = prev(l, node)
            move(core, node, type: isReferenced(core, node) ? active : inactive)
            scanned += 1
            if scanned == scanLimit || node == first { break }
            node = earlier
        }
    }

    /// `__bpf_lru_list_rotate_inactive`: referenced inactive elements move to the active list, starting where the
    /// previous rotation stopped.
    static func rotateInactive(_ core: UnsafeMutablePointer<MapCore>) {
        let l = links(core)
        let inactiveHead = head(core, inactive)
        if next(l, inactiveHead) == inactiveHead { return }
        var last = next(l, counts(core)[2])
        if last == inactiveHead { last = next(l, last) }
        var current = counts(core)[2]
        var following = current
        var scanned: UInt32 = 0
        while scanned < scanLimit {
            if current == inactiveHead {
                current = prev(l, current)
                continue
            }
            following = prev(l, current)
            if isReferenced(core, current) { move(core, current, type: active) }
            if current == last { break }
            current = following
            scanned += 1
        }
        counts(core)[2] = following
    }

    static func rotate(_ core: UnsafeMutablePointer<MapCore>) {
        if counts(core)[1] < counts(core)[0] { rotateActive(core) }
        rotateInactive(core)
    }

    /// `__bpf_lru_list_shrink_inactive`: evicts unreferenced inactive elements from the old end.
    static func shrinkInactive(_ core: UnsafeMutablePointer<MapCore>, target: UInt32, list: UInt32, type: UInt32)
        -> UInt32
    {
        let l = links(core)
        let inactiveHead = head(core, inactive)
        var node = prev(l, inactiveHead)
        var shrunk: UInt32 = 0
        var scanned: UInt32 = 0
        while node != inactiveHead {
            let earlier = prev(l, node)
            if isReferenced(core, node) {
                move(core, node, type: active)
            } else if HashTable.evictFromTable(core, node) {
                moveToFree(core, node, list: list, type: type)
                shrunk += 1
                if shrunk == target { break }
            }
            scanned += 1
            if scanned == scanLimit { break }
            node = earlier
        }
        return shrunk
    }

    /// `__bpf_lru_list_shrink`: as above, or else evict one element ignoring reference bits.
    static func shrink(_ core: UnsafeMutablePointer<MapCore>, target: UInt32, list: UInt32, type: UInt32) -> UInt32 {
        let shrunk = shrinkInactive(core, target: target, list: list, type: type)
        if shrunk != 0 { return shrunk }
        let l = links(core)
        let inactiveHead = head(core, inactive)
        let forced = next(l, inactiveHead) != inactiveHead ? inactiveHead : head(core, active)
        var node = prev(l, forced)
        while node != forced {
            let earlier = prev(l, node)
            if HashTable.evictFromTable(core, node) {
                moveToFree(core, node, list: list, type: type)
                return 1
            }
            node = earlier
        }
        return 0
    }

    // MARK: Local lists

    /// `__local_list_flush`: pending elements into the global lists, oldest first.
    static func flushPending(_ core: UnsafeMutablePointer<MapCore>, _ cpu: Int) {
        let l = links(core)
        let pending = localPendingHead(core, cpu)
        var node = prev(l, pending)
        while node != pending {
            let earlier = prev(l, node)
            moveIn(core, node, type: isReferenced(core, node) ? active : inactive)
            node = earlier
        }
    }

    /// `bpf_lru_list_pop_free_to_local`.
    static func refillLocal(_ core: UnsafeMutablePointer<MapCore>, _ cpu: Int) {
        flushPending(core, cpu)
        rotate(core)
        let l = links(core)
        let freeHead = head(core, free)
        let local = localFreeHead(core, cpu)
        let target = counts(core)[3]
        var moved: UInt32 = 0
        var node = next(l, freeHead)
        while node != freeHead {
            let later = next(l, node)
            moveToFree(core, node, list: local, type: localFree)
            moved += 1
            if moved == target { break }
            node = later
        }
        if moved < target {
            _ = shrink(core, target: target - moved, list: local, type: localFree)
        }
    }

    static func popLocalFree(_ core: UnsafeMutablePointer<MapCore>, _ cpu: Int) -> UInt32 {
        let l = links(core)
        let local = localFreeHead(core, cpu)
        let node = next(l, local)
        if node == local { return 0 }
        unlink(l, node)
        return node
    }

    /// `__local_list_pop_pending`: the oldest unreferenced pending element (or, failing that, any), evicted.
    static func popLocalPending(_ core: UnsafeMutablePointer<MapCore>, _ cpu: Int) -> UInt32 {
        let l = links(core)
        let pending = localPendingHead(core, cpu)
        for pass in 0..<2 {
            let force = pass == 1
            var node = prev(l, pending)
            while node != pending {
                if (!isReferenced(core, node) || force) && HashTable.evictFromTable(core, node) {
                    unlink(l, node)
                    return node
                }
                node = prev(l, node)
            }
        }
        return 0
    }

    static func addPending(_ core: UnsafeMutablePointer<MapCore>, _ i: UInt32, cpu: Int) {
        HashTable.element(core, i).storeBytes(of: UInt32(cpu), toByteOffset: 12, as: UInt32.self)
        setType(core, i, localPending)
        setReferenced(core, i, false)
        insert(links(core), i, after: localPendingHead(core, cpu))
    }

    // MARK: Entry points

    /// `bpf_lru_pop_free`: a free element for `cpu` (evicting as the kernel would), or 0.
    static func pop(_ core: UnsafeMutablePointer<MapCore>, cpu: Int) -> UInt32 {
        var node = popLocalFree(core, cpu)
        if node == 0 {
            refillLocal(core, cpu)
            node = popLocalFree(core, cpu)
        }
        if node != 0 {
            addPending(core, node, cpu: cpu)
            return node
        }
        let cpus = UInt32(core.pointee.possibleCPUs)
        let first = nextSteal(core)[cpu]
        var steal = first
        repeat {
            node = popLocalFree(core, Int(steal))
            if node == 0 { node = popLocalPending(core, Int(steal)) }
            steal = steal + 1 == cpus ? 0 : steal + 1
        } while node == 0 && steal != first
        nextSteal(core)[cpu] = steal
        if node != 0 { addPending(core, node, cpu: cpu) }
        return node
    }

    /// `bpf_lru_push_free`: a pending element goes back to its CPU's local free list, any other to the global one.
    static func push(_ core: UnsafeMutablePointer<MapCore>, _ i: UInt32) {
        if type(core, i) == localPending {
            let recorded = Int(HashTable.element(core, i).load(fromByteOffset: 12, as: UInt32.self))
            let cpu = recorded < core.pointee.possibleCPUs ? recorded : 0
            setType(core, i, localFree)
            setReferenced(core, i, false)
            moveToHead(links(core), i, localFreeHead(core, cpu))
            return
        }
        move(core, i, type: free)
    }
}
