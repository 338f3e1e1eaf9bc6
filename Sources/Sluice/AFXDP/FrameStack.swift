/// A stack of free UMEM chunk addresses. POD over a raw buffer, so the worker can push and pop through a pointer
/// without ARC or bounds-check traps; the owner (`UMEM`) allocates and frees the storage.
struct FrameStack {
    var base: UnsafeMutablePointer<UInt64>
    var count: Int
    let capacity: Int

    @inline(__always)
    mutating func push(_ address: UInt64) {
        // Never more pushes than frames exist; guard anyway so a bookkeeping bug cannot write out of bounds.
        if count < capacity {
            base[count] = address
            count += 1
        }
    }

    @inline(__always)
    mutating func pop() -> UInt64? {
        if count == 0 { return nil }
        count -= 1
        return base[count]
    }
}
