import CLibXDP

#if canImport(Glibc)
    import Glibc
#endif

/// Sizes of a UMEM and its two rings.
public struct UMEMConfiguration: Hashable, Sendable {
    /// Bytes per chunk; a power of two, 2048 or 4096 in aligned mode (`XSK_UMEM__DEFAULT_FRAME_SIZE` = 4096).
    public var frameSize: Int = 4096
    /// Number of chunks; must cover fill ring + RX ring + TX in flight.
    public var frameCount: Int = 4096
    /// Extra headroom the kernel leaves before each packet, on top of `XDP_PACKET_HEADROOM` (256).
    public var headroom: Int = 0
    /// Fill ring entries (`XSK_RING_PROD__DEFAULT_NUM_DESCS` = 2048), a power of two.
    public var fillSize: Int = 2048
    /// Completion ring entries, a power of two.
    public var completionSize: Int = 2048

    public init(
        frameSize: Int = 4096, frameCount: Int = 4096, headroom: Int = 0, fillSize: Int = 2048,
        completionSize: Int = 2048
    ) {
        self.frameSize = frameSize
        self.frameCount = frameCount
        self.headroom = headroom
        self.fillSize = fillSize
        self.completionSize = completionSize
    }

    func validate() throws(AFXDPError) {
        func pow2(_ v: Int) -> Bool { v > 0 && v & (v - 1) == 0 }
        guard frameSize == 2048 || frameSize == 4096 else {
            throw .invalidConfiguration("frame size \(frameSize): must be 2048 or 4096")
        }
        guard frameCount >= 64, frameCount <= 1 << 20 else {
            throw .invalidConfiguration("frame count \(frameCount): must be 64...\(1 << 20)")
        }
        guard headroom >= 0, headroom <= frameSize / 2 else {
            throw .invalidConfiguration("headroom \(headroom): must be 0...\(frameSize / 2)")
        }
        guard pow2(fillSize), pow2(completionSize) else {
            throw .invalidConfiguration(
                "fill (\(fillSize)) and completion (\(completionSize)) sizes must be powers of two")
        }
    }
}

/// A UMEM: the packet buffer area shared with the kernel, registered with `xsk_umem__create`, with its fill and
/// completion rings and a stack of free chunks.
///
/// libxdp keeps pointers to the ring structs, so they are heap-allocated here and freed only after
/// `xsk_umem__delete`. Delete every socket using the UMEM before `close()`.
public final class UMEM {
    public let configuration: UMEMConfiguration
    let area: UnsafeMutableRawPointer
    let areaSize: Int
    let fill: UnsafeMutablePointer<xsk_ring_prod>
    let completion: UnsafeMutablePointer<xsk_ring_cons>
    let freeFrames: UnsafeMutablePointer<FrameStack>
    private(set) var handle: OpaquePointer?
    private var closed = false

    public init(configuration: UMEMConfiguration = UMEMConfiguration()) throws(AFXDPError) {
        try configuration.validate()
        self.configuration = configuration
        areaSize = configuration.frameSize * configuration.frameCount
        let mapped = mmap(nil, areaSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let mapped, mapped != MAP_FAILED else {
            throw .system(SystemError(call: "mmap", errno: Errno.current.rawValue, context: "UMEM of \(areaSize) bytes"))
        }
        area = mapped
        fill = .allocate(capacity: 1)
        fill.initialize(to: xsk_ring_prod())
        completion = .allocate(capacity: 1)
        completion.initialize(to: xsk_ring_cons())
        let stackStorage = UnsafeMutablePointer<UInt64>.allocate(capacity: configuration.frameCount)
        freeFrames = .allocate(capacity: 1)
        freeFrames.initialize(to: FrameStack(base: stackStorage, count: 0, capacity: configuration.frameCount))
        // Pushed in reverse so the first pops hand out the lowest addresses (easier to read in traces).
        for i in stride(from: configuration.frameCount - 1, through: 0, by: -1) {
            freeFrames.pointee.push(UInt64(i * configuration.frameSize))
        }
        var umemConfig = xsk_umem_config(
            fill_size: UInt32(configuration.fillSize), comp_size: UInt32(configuration.completionSize),
            frame_size: UInt32(configuration.frameSize), frame_headroom: UInt32(configuration.headroom), flags: 0)
        var created: OpaquePointer?
        let rc = xsk_umem__create(&created, area, UInt64(areaSize), fill, completion, &umemConfig)
        if rc < 0 {
            releaseMemory()
            closed = true
            throw .system(SystemError(call: "xsk_umem__create", errno: -rc))
        }
        handle = created
    }

    public var frameSize: Int { configuration.frameSize }
    public var frameCount: Int { configuration.frameCount }
    /// Chunks currently free (not in any ring, not held by the engine).
    public var freeFrameCount: Int { freeFrames.pointee.count }

    /// Moves up to `limit` free chunks into the fill ring; returns how many.
    @discardableResult
    func topUpFillRing(limit: Int = .max) -> Int {
        let stack = freeFrames
        var want = min(limit, stack.pointee.count, configuration.fillSize)
        guard want > 0 else { return 0 }
        // reserve is all-or-nothing: ask only for what fits.
        want = min(want, Int(xsk_prod_nb_free(fill, UInt32(want))))
        guard want > 0 else { return 0 }
        var index: UInt32 = 0
        let reserved = Int(xsk_ring_prod__reserve(fill, UInt32(want), &index))
        for i in 0..<reserved {
            xsk_ring_prod__fill_addr(fill, index &+ UInt32(i)).pointee = stack.pointee.pop() ?? 0
        }
        if reserved > 0 { xsk_ring_prod__submit(fill, UInt32(reserved)) }
        return reserved
    }

    /// Unregisters the UMEM and frees its memory. Every socket on it must have been deleted first.
    public func close() {
        guard !closed else { return }
        closed = true
        if let handle {
            let rc = xsk_umem__delete(handle)
            if rc != 0 {
                // EBUSY: a socket still uses it. Leak rather than unmap memory the kernel may still write.
                return
            }
        }
        handle = nil
        releaseMemory()
    }

    private func releaseMemory() {
        munmap(area, areaSize)
        fill.deinitialize(count: 1)
        fill.deallocate()
        completion.deinitialize(count: 1)
        completion.deallocate()
        freeFrames.pointee.base.deallocate()
        freeFrames.deinitialize(count: 1)
        freeFrames.deallocate()
    }

    deinit { close() }
}
