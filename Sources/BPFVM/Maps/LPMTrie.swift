import Synchronization

/// LPM_TRIE: a path-compressed binary trie like the kernel's (`kernel/bpf/lpm_trie.c`), over a preallocated node
/// pool. Keys are `struct bpf_lpm_trie_key`: a host-order u32 `prefixlen`, then `data` (big-endian bit order:
/// bit 0 is the top bit of `data[0]`).
///
/// `storage`: `2 × max_entries` nodes (leaves ≤ max_entries; intermediate nodes, which always have two children,
/// fewer than leaves). Node layout:
///
///     0  child0    UInt32  1-based; also the free-list link
///     4  child1    UInt32
///     8  prefixlen UInt32
///    12  flags     UInt32  bit 0: intermediate (no value), bit 1: in use
///    16  data      keySize − 4 bytes, padded to 8
///     …  value     valueStride bytes
///
/// `auxiliary`: `MapAuxiliaryHeader` (`root`, `count` = entries with values, `freeHead`).
///
/// Update semantics are those of Linux ≥ 6.13: `BPF_NOEXIST` on a present prefix → -EEXIST, `BPF_EXIST` on an
/// absent one → -ENOENT, a full trie refuses new prefixes with -ENOSPC but still replaces existing ones. Replacing
/// writes the node in place (the kernel swaps in a new node), so a concurrent lock-free reader may see a
/// half-written value.
enum LPMTrie: LinkWordAccess {
    static let headerSize = 16
    static let intermediate: UInt32 = 1
    static let inUse: UInt32 = 2

    @inline(__always)
    static func dataSize(_ core: UnsafeMutablePointer<MapCore>) -> Int { Int(core.pointee.keySize) - 4 }

    @inline(__always)
    static func maxPrefixLength(_ core: UnsafeMutablePointer<MapCore>) -> UInt32 { UInt32(dataSize(core) * 8) }

    @inline(__always)
    static func nodeSize(_ core: UnsafeMutablePointer<MapCore>) -> Int {
        headerSize + MapMemory.roundUp8(dataSize(core)) + core.pointee.valueStride
    }

    static func nodeCount(maxEntries: Int) -> Int { 2 * maxEntries }

    @inline(__always)
    static func node(_ core: UnsafeMutablePointer<MapCore>, _ index: UInt32) -> UnsafeMutableRawPointer {
        core.pointee.storage + (Int(index) - 1) * nodeSize(core)
    }

    @inline(__always)
    static func valuePointer(_ core: UnsafeMutablePointer<MapCore>, _ node: UnsafeMutableRawPointer)
        -> UnsafeMutableRawPointer
    {
        node + headerSize + MapMemory.roundUp8(dataSize(core))
    }

    @inline(__always)
    static func header(_ core: UnsafeMutablePointer<MapCore>) -> UnsafeMutablePointer<MapAuxiliaryHeader> {
        core.pointee.auxiliary.unsafelyUnwrapped.assumingMemoryBound(to: MapAuxiliaryHeader.self)
    }

    /// The root link word (`MapAuxiliaryHeader.root`).
    @inline(__always)
    static func rootLink(_ core: UnsafeMutablePointer<MapCore>) -> UnsafeMutableRawPointer {
        core.pointee.auxiliary.unsafelyUnwrapped + MapAuxiliaryHeader.rootOffset
    }

    /// A child or free link (1-based node index) from memory a program may write in checked mode: anything beyond
    /// the pool reads as "none".
    @inline(__always)
    static func loadLink(_ core: UnsafeMutablePointer<MapCore>, _ p: UnsafeMutableRawPointer) -> UInt32 {
        let index = loadWord(p)
        return index <= 2 &* core.pointee.maxEntries ? index : 0
    }

    static func initialize(_ core: UnsafeMutablePointer<MapCore>) {
        let n = UInt32(nodeCount(maxEntries: Int(core.pointee.maxEntries)))
        for i in 1...n { node(core, i).storeBytes(of: i == n ? 0 : i + 1, as: UInt32.self) }
        header(core).pointee.freeHead = 1
    }

    @inline(__always)
    static func bit(_ data: UnsafeRawPointer, _ index: UInt32) -> Int {
        Int(data.load(fromByteOffset: Int(index >> 3), as: UInt8.self) >> (7 - UInt8(index & 7))) & 1
    }

    /// Number of leading bits `node` and the key share, up to the shorter of the two prefixes.
    @inline(__always)
    static func matchLength(
        _ core: UnsafeMutablePointer<MapCore>, _ node: UnsafeMutableRawPointer, _ keyData: UnsafeRawPointer,
        _ keyPrefix: UInt32
    ) -> UInt32 {
        let limit = min(node.load(fromByteOffset: 8, as: UInt32.self), keyPrefix)
        let size = dataSize(core)
        var matched: UInt32 = 0
        var i = 0
        while matched < limit && i < size {
            let difference =
                node.load(fromByteOffset: headerSize + i, as: UInt8.self)
                ^ keyData.load(fromByteOffset: i, as: UInt8.self)
            if difference != 0 {
                matched += UInt32(difference.leadingZeroBitCount)
                break
            }
            matched += 8
            i += 1
        }
        return min(matched, limit)
    }

    /// Longest-prefix match among entries whose prefix is no longer than the key's `prefixlen`. Lock-free.
    @inline(__always)
    static func lookup(_ core: UnsafeMutablePointer<MapCore>, _ key: UnsafeRawPointer) -> UnsafeMutableRawPointer? {
        let keyPrefix = key.loadUnaligned(as: UInt32.self)
        let keyData = key + 4
        let maxPrefix = maxPrefixLength(core)
        var found: UnsafeMutableRawPointer? = nil
        var index = loadLink(core, rootLink(core))
        var steps: UInt32 = 0
        while index != 0 && steps <= maxPrefix + 1 {
            let n = node(core, index)
            let prefix = n.load(fromByteOffset: 8, as: UInt32.self)
            let isEntry = loadWord(n + 12) & intermediate == 0
            let matched = matchLength(core, n, keyData, keyPrefix)
            if matched == maxPrefix {
                if isEntry { found = n }
                break
            }
            if matched < prefix { break }
            if isEntry { found = n }
            index = loadLink(core, n + 4 * bit(keyData, prefix))
            steps += 1
        }
        guard let found else { return nil }
        return valuePointer(core, found)
    }

    static func allocate(_ core: UnsafeMutablePointer<MapCore>) -> UInt32 {
        let h = header(core)
        let index = h.pointee.freeHead
        if index == 0 { return 0 }
        let n = node(core, index)
        h.pointee.freeHead = loadLink(core, n)
        storeWord(n, 0)
        storeWord(n + 4, 0)
        storeWord(n + 12, inUse)
        return index
    }

    static func release(_ core: UnsafeMutablePointer<MapCore>, _ index: UInt32) {
        let h = header(core)
        let n = node(core, index)
        storeWord(n + 12, 0)
        storeWord(n, h.pointee.freeHead)
        h.pointee.freeHead = index
    }

    static func fillLeaf(
        _ core: UnsafeMutablePointer<MapCore>, _ n: UnsafeMutableRawPointer, _ key: UnsafeRawPointer,
        _ value: UnsafeRawPointer
    ) {
        n.storeBytes(of: key.loadUnaligned(as: UInt32.self), toByteOffset: 8, as: UInt32.self)
        MapMemory.copy(n + headerSize, key + 4, count: dataSize(core))
        MapMemory.copy(valuePointer(core, n), value, count: Int(core.pointee.valueSize))
    }

    /// `trie_update_elem`.
    static func update(
        _ core: UnsafeMutablePointer<MapCore>, _ key: UnsafeRawPointer, _ value: UnsafeRawPointer, flags: UInt64
    ) -> Int64 {
        if flags > MapUpdateFlags.exist { return -Int64(MapErrno.invalid) }
        let keyPrefix = key.loadUnaligned(as: UInt32.self)
        let maxPrefix = maxPrefixLength(core)
        if keyPrefix > maxPrefix { return -Int64(MapErrno.invalid) }
        let keyData = key + 4
        let aux = core.pointee.auxiliary.unsafelyUnwrapped
        MapLock.lock(aux)
        defer { MapLock.unlock(aux) }
        let h = header(core)

        var link = rootLink(core)
        var index = loadLink(core, link)
        var matched: UInt32 = 0
        var steps: UInt32 = 0
        while index != 0 && steps <= maxPrefixLength(core) {
            steps += 1
            let n = node(core, index)
            let prefix = n.load(fromByteOffset: 8, as: UInt32.self)
            matched = matchLength(core, n, keyData, keyPrefix)
            if prefix != matched || prefix == keyPrefix || prefix == maxPrefix { break }
            link = n + 4 * bit(keyData, prefix)
            index = loadLink(core, link)
        }

        if index == 0 {
            let refusal = admitNew(core, flags: flags)
            if refusal != 0 { return refusal }
            let fresh = allocate(core)
            if fresh == 0 { return -Int64(MapErrno.outOfMemory) }
            fillLeaf(core, node(core, fresh), key, value)
            storeWord(link, fresh)
            h.pointee.count &+= 1
            return 0
        }

        let existing = node(core, index)
        let existingPrefix = existing.load(fromByteOffset: 8, as: UInt32.self)
        if existingPrefix == matched {
            // Exactly this prefix: replace the entry, or give an intermediate node a value.
            if loadWord(existing + 12) & intermediate == 0 {
                if flags == MapUpdateFlags.noExist { return -Int64(MapErrno.exists) }
                fillLeaf(core, existing, key, value)
                return 0
            }
            let refusal = admitNew(core, flags: flags)
            if refusal != 0 { return refusal }
            fillLeaf(core, existing, key, value)
            storeWord(existing + 12, inUse)
            h.pointee.count &+= 1
            return 0
        }

        let refusal = admitNew(core, flags: flags)
        if refusal != 0 { return refusal }
        let fresh = allocate(core)
        if fresh == 0 { return -Int64(MapErrno.outOfMemory) }
        let freshNode = node(core, fresh)
        fillLeaf(core, freshNode, key, value)
        if matched == keyPrefix {
            // The new prefix covers the existing node: it becomes its parent.
            storeWord(freshNode + 4 * bit(existing + headerSize, matched), index)
            storeWord(link, fresh)
        } else {
            let joint = allocate(core)
            if joint == 0 {
                release(core, fresh)
                return -Int64(MapErrno.outOfMemory)
            }
            let jointNode = node(core, joint)
            jointNode.storeBytes(of: matched, toByteOffset: 8, as: UInt32.self)
            MapMemory.copy(jointNode + headerSize, existing + headerSize, count: dataSize(core))
            storeWord(jointNode + 12, inUse | intermediate)
            if bit(keyData, matched) == 1 {
                storeWord(jointNode, index)
                storeWord(jointNode + 4, fresh)
            } else {
                storeWord(jointNode, fresh)
                storeWord(jointNode + 4, index)
            }
            storeWord(link, joint)
        }
        h.pointee.count &+= 1
        return 0
    }

    /// Whether a new entry may be added (`trie_check_add_elem`): BPF_EXIST refuses it (-ENOENT), a full trie
    /// refuses it (-ENOSPC).
    @inline(__always)
    static func admitNew(_ core: UnsafeMutablePointer<MapCore>, flags: UInt64) -> Int64 {
        if flags == MapUpdateFlags.exist { return -Int64(MapErrno.noEntry) }
        if header(core).pointee.count == core.pointee.maxEntries { return -Int64(MapErrno.noSpace) }
        return 0
    }

    /// `trie_delete_elem`: removes exactly this prefix.
    static func delete(_ core: UnsafeMutablePointer<MapCore>, _ key: UnsafeRawPointer) -> Int64 {
        let keyPrefix = key.loadUnaligned(as: UInt32.self)
        if keyPrefix > maxPrefixLength(core) { return -Int64(MapErrno.invalid) }
        let keyData = key + 4
        let aux = core.pointee.auxiliary.unsafelyUnwrapped
        MapLock.lock(aux)
        defer { MapLock.unlock(aux) }

        var link = rootLink(core)
        var parentLink = link
        var parent: UInt32 = 0
        var index = loadLink(core, link)
        var matched: UInt32 = 0
        var steps: UInt32 = 0
        while index != 0 && steps <= maxPrefixLength(core) {
            steps += 1
            let n = node(core, index)
            let prefix = n.load(fromByteOffset: 8, as: UInt32.self)
            matched = matchLength(core, n, keyData, keyPrefix)
            if prefix != matched || prefix == keyPrefix { break }
            parent = index
            parentLink = link
            link = n + 4 * bit(keyData, prefix)
            index = loadLink(core, link)
        }
        guard index != 0 else { return -Int64(MapErrno.noEntry) }
        let n = node(core, index)
        let prefix = n.load(fromByteOffset: 8, as: UInt32.self)
        if prefix != keyPrefix || prefix != matched || loadWord(n + 12) & intermediate != 0 {
            return -Int64(MapErrno.noEntry)
        }
        header(core).pointee.count &-= 1
        let left = loadLink(core, n)
        let right = loadLink(core, n + 4)
        if left != 0 && right != 0 {
            storeWord(n + 12, inUse | intermediate)
            return 0
        }
        if parent != 0 && left == 0 && right == 0 {
            let p = node(core, parent)
            if loadWord(p + 12) & intermediate != 0 {
                let sibling = loadLink(core, p) == index ? loadLink(core, p + 4) : loadLink(core, p)
                storeWord(parentLink, sibling)
                release(core, parent)
                release(core, index)
                return 0
            }
        }
        storeWord(link, left != 0 ? left : right)
        release(core, index)
        return 0
    }

    /// Every entry with a value, in pool order (the caller holds the lock): key bytes and value.
    static func forEachEntry(
        _ core: UnsafeMutablePointer<MapCore>,
        _ body: (UInt32, UnsafeMutableRawPointer, UnsafeMutableRawPointer) -> Void
    ) {
        let n = UInt32(nodeCount(maxEntries: Int(core.pointee.maxEntries)))
        for i in 1...n {
            let p = node(core, i)
            if loadWord(p + 12) == inUse {
                body(p.load(fromByteOffset: 8, as: UInt32.self), p + headerSize, valuePointer(core, p))
            }
        }
    }
}
