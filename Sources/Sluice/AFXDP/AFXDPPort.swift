import CLibXDP

/// The hot-path view of one socket: plain pointers into the socket's rings and UMEM, plus the worker's local
/// counters. POD, so the worker reaches it through an `UnsafeMutablePointer` with no ARC or exclusivity checks.
/// The `XSKSocket`/`UMEM` objects own the memory and outlive every worker that uses a port.
struct AFXDPPort {
    let fill: UnsafeMutablePointer<xsk_ring_prod>
    let completion: UnsafeMutablePointer<xsk_ring_cons>
    let rx: UnsafeMutablePointer<xsk_ring_cons>
    let tx: UnsafeMutablePointer<xsk_ring_prod>
    let area: UnsafeMutableRawPointer
    let frameSize: Int
    /// `~(frameSize - 1)`: a descriptor address masked to its chunk's base.
    let chunkMask: UInt64
    let fillSize: UInt32
    let completionSize: UInt32
    let freeFrames: UnsafeMutablePointer<FrameStack>
    let fd: Int32
    let ifindex: UInt32
    let queue: UInt32
    /// Engine-wide socket number (`RedirectTarget.socket(index:)`).
    let socketIndex: UInt32
    /// TX descriptors reserved in this batch, not yet submitted.
    var txReserved: UInt32 = 0
    /// TX descriptors submitted and not yet completed.
    var txOutstanding: UInt32 = 0
    var counters = QueueCounters()

    /// A port over rings and UMEM someone else set up (tests drive the pipeline's AF_XDP source and sink through
    /// rings in plain memory, without a socket).
    init(
        fill: UnsafeMutablePointer<xsk_ring_prod>, completion: UnsafeMutablePointer<xsk_ring_cons>,
        rx: UnsafeMutablePointer<xsk_ring_cons>, tx: UnsafeMutablePointer<xsk_ring_prod>, area: UnsafeMutableRawPointer,
        frameSize: Int, fillSize: UInt32, completionSize: UInt32, freeFrames: UnsafeMutablePointer<FrameStack>,
        fd: Int32 = -1, ifindex: UInt32, queue: UInt32, socketIndex: UInt32
    ) {
        self.fill = fill
        self.completion = completion
        self.rx = rx
        self.tx = tx
        self.area = area
        self.frameSize = frameSize
        chunkMask = ~UInt64(frameSize - 1)
        self.fillSize = fillSize
        self.completionSize = completionSize
        self.freeFrames = freeFrames
        self.fd = fd
        self.ifindex = ifindex
        self.queue = queue
        self.socketIndex = socketIndex
    }

    init(socket: XSKSocket, socketIndex: UInt32) {
        let umem = socket.umem
        fill = umem.fill
        completion = umem.completion
        rx = socket.rx
        tx = socket.tx
        area = umem.area
        frameSize = umem.frameSize
        chunkMask = ~UInt64(umem.frameSize - 1)
        fillSize = UInt32(umem.configuration.fillSize)
        completionSize = UInt32(umem.configuration.completionSize)
        freeFrames = umem.freeFrames
        fd = socket.fd
        ifindex = socket.interface.ifindex
        queue = socket.queue
        self.socketIndex = socketIndex
    }

    /// Recycles completed TX frames into the free stack.
    @inline(__always)
    mutating func reapCompletions() {
        guard txOutstanding > 0 else { return }
        var index: UInt32 = 0
        let done = xsk_ring_cons__peek(completion, completionSize, &index)
        guard done > 0 else { return }
        for i in 0..<done {
            let address = xsk_ring_cons__comp_addr(completion, index &+ i).pointee
            freeFrames.pointee.push(address & chunkMask)
        }
        xsk_ring_cons__release(completion, done)
        txOutstanding &-= min(done, txOutstanding)
        counters.txCompleted &+= UInt64(done)
    }

    /// Moves free frames into the fill ring, as many as fit.
    @inline(__always)
    mutating func topUpFill() {
        let available = freeFrames.pointee.count
        guard available > 0 else { return }
        let want = min(UInt32(truncatingIfNeeded: available), fillSize)
        let space = min(want, xsk_prod_nb_free(fill, want))
        guard space > 0 else { return }
        var index: UInt32 = 0
        let reserved = xsk_ring_prod__reserve(fill, space, &index)
        guard reserved > 0 else { return }
        for i in 0..<reserved {
            xsk_ring_prod__fill_addr(fill, index &+ i).pointee = freeFrames.pointee.pop() ?? 0
        }
        xsk_ring_prod__submit(fill, reserved)
    }

    /// Reserves one TX slot and writes the descriptor; false when the ring is full.
    @inline(__always)
    mutating func enqueueTX(address: UInt64, length: UInt32) -> Bool {
        var index: UInt32 = 0
        guard xsk_ring_prod__reserve(tx, 1, &index) == 1 else { return false }
        let desc = xsk_ring_prod__tx_desc(tx, index)!
        desc.pointee.addr = address
        desc.pointee.len = length
        desc.pointee.options = 0
        txReserved &+= 1
        return true
    }
}
