import Synchronization

/// Map type numbers as plain constants for the per-packet `switch` (no struct comparisons on the hot path).
enum MapTypeCode {
    static let hash: UInt32 = 1
    static let array: UInt32 = 2
    static let progArray: UInt32 = 3
    static let perfEventArray: UInt32 = 4
    static let percpuHash: UInt32 = 5
    static let percpuArray: UInt32 = 6
    static let lruHash: UInt32 = 9
    static let lruPercpuHash: UInt32 = 10
    static let lpmTrie: UInt32 = 11
    static let devmap: UInt32 = 14
    static let cpumap: UInt32 = 16
    static let xskmap: UInt32 = 17
    static let devmapHash: UInt32 = 25
    static let ringbuf: UInt32 = 27
}

/// Bookkeeping at the start of a map's `auxiliary` memory, shared by the types that need any (hash family, LPM
/// trie, ring buffer). Fields are 1-based element indices (0 = none) so that zeroed memory is an empty structure.
///
/// `lock` is a spinlock word accessed only through `MapLock`; every structural change (insert, delete, eviction,
/// reservation) happens under it. Program lookups never take it (the kernel's RCU readers don't either): they walk
/// chains whose links always hold valid indices, with a step bound, so a concurrent change can make them miss but
/// never fault.
struct MapAuxiliaryHeader {
    var lock: UInt32
    /// Elements in use (hash, LPM leaves).
    var count: UInt32
    /// First free element (1-based), linked through the element's first word.
    var freeHead: UInt32
    /// Hash: bucket count − 1.
    var bucketMask: UInt32
    /// LPM: root node (1-based).
    var root: UInt32
    var reserved0: UInt32
    var reserved1: UInt32
    var reserved2: UInt32
    /// Ring buffer: byte positions, only growing (the kernel's `producer_pos` / `consumer_pos`).
    var producer: UInt64
    var consumer: UInt64

    /// Bytes reserved for the header (buckets of a hash map follow it).
    static let size = 64
    /// Byte offsets of the fields accessed through raw pointers (atomically).
    static let rootOffset = 16
    static let producerOffset = 32
    static let consumerOffset = 40
}

/// The per-map spinlock (a word in the auxiliary memory). Held only for a few hundred instructions at most; one per
/// map rather than the kernel's per-bucket locks.
enum MapLock {
    @inline(__always)
    static func lock(_ auxiliary: UnsafeMutableRawPointer) {
        let word = UnsafePointer<Atomic<UInt32>>(OpaquePointer(auxiliary))
        while true {
            if word.pointee.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged { return }
            while word.pointee.load(ordering: .relaxed) != 0 {}
        }
    }

    @inline(__always)
    static func unlock(_ auxiliary: UnsafeMutableRawPointer) {
        let word = UnsafePointer<Atomic<UInt32>>(OpaquePointer(auxiliary))
        word.pointee.store(0, ordering: .releasing)
    }
}

/// Small memory primitives for keys and values (no allocation).
enum MapMemory {
    @inline(__always)
    static func roundUp8(_ n: Int) -> Int { (n + 7) & ~7 }

    @inline(__always)
    static func equal(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, count: Int) -> Bool {
        var i = 0
        while i + 8 <= count {
            if a.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                != b.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            {
                return false
            }
            i += 8
        }
        while i < count {
            if a.load(fromByteOffset: i, as: UInt8.self) != b.load(fromByteOffset: i, as: UInt8.self) { return false }
            i += 1
        }
        return true
    }

    @inline(__always)
    static func copy(_ destination: UnsafeMutableRawPointer, _ source: UnsafeRawPointer, count: Int) {
        destination.copyMemory(from: source, byteCount: count)
    }

    @inline(__always)
    static func zero(_ destination: UnsafeMutableRawPointer, count: Int) {
        destination.initializeMemory(as: UInt8.self, repeating: 0, count: count)
    }

    /// A deterministic 32-bit hash of the key bytes (multiply–xorshift over 8-byte words, splitmix64 finish). Not
    /// seeded: the same keys land in the same buckets in every run, so replay is reproducible.
    @inline(__always)
    static func hash(_ key: UnsafeRawPointer, count: Int) -> UInt32 {
        var h: UInt64 = 0x243F_6A88_85A3_08D3 ^ UInt64(truncatingIfNeeded: count)
        var i = 0
        while i + 8 <= count {
            h = (h ^ key.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0x9E37_79B9_7F4A_7C15
            h ^= h >> 32
            i += 8
        }
        if i < count {
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while i < count {
                tail |= UInt64(key.load(fromByteOffset: i, as: UInt8.self)) << shift
                shift += 8
                i += 1
            }
            h = (h ^ tail) &* 0x9E37_79B9_7F4A_7C15
            h ^= h >> 32
        }
        h ^= h >> 30
        h &*= 0xBF58_476D_1CE4_E5B9
        h ^= h >> 27
        h &*= 0x94D0_49BB_1331_11EB
        h ^= h >> 31
        return UInt32(truncatingIfNeeded: h)
    }

    /// The CPU slot a per-CPU access uses: `cpu` if the map has values for it, else 0.
    @inline(__always)
    static func cpuSlot(_ cpu: Int, _ core: UnsafeMutablePointer<MapCore>) -> Int {
        cpu >= 0 && cpu < core.pointee.possibleCPUs ? cpu : 0
    }

    /// Number of value copies per key: `possibleCPUs` for per-CPU types, else 1.
    @inline(__always)
    static func valueCopies(_ core: UnsafeMutablePointer<MapCore>) -> Int {
        switch core.pointee.type {
        case MapTypeCode.percpuHash, MapTypeCode.percpuArray, MapTypeCode.lruPercpuHash: core.pointee.possibleCPUs
        default: 1
        }
    }
}

/// Link words of the pool-based maps (hash, LRU, LPM trie) are read by lock-free lookups while a writer changes
/// them: one pair of atomic accessors for all of them.
protocol LinkWordAccess {}

extension LinkWordAccess {
    @inline(__always)
    static func loadWord(_ p: UnsafeMutableRawPointer) -> UInt32 {
        UnsafePointer<Atomic<UInt32>>(OpaquePointer(p)).pointee.load(ordering: .acquiring)
    }

    @inline(__always)
    static func storeWord(_ p: UnsafeMutableRawPointer, _ value: UInt32) {
        UnsafePointer<Atomic<UInt32>>(OpaquePointer(p)).pointee.store(value, ordering: .releasing)
    }
}
