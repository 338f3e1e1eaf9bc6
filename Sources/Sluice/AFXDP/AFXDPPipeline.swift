import CLibXDP

#if canImport(Glibc)
    import Glibc
#endif

/// The RX ring of one AF_XDP socket as a pipeline source: a batch is what `xsk_ring_cons__peek` returns, each frame
/// a view of its UMEM chunk, the token the chunk's address.
struct AFXDPRingSource: FrameSource {
    let port: UnsafeMutablePointer<AFXDPPort>
    /// Receive time of the batch (`bpf_ktime_get_ns` sees the batch's time, not each frame's).
    let now: UInt64
    var rxIndex: UInt32 = 0

    @inline(__always)
    init(port: UnsafeMutablePointer<AFXDPPort>, now: UInt64) {
        self.port = port
        self.now = now
    }

    @inline(__always)
    mutating func receive(upTo limit: Int) -> Int? {
        let got = xsk_ring_cons__peek(port.pointee.rx, UInt32(truncatingIfNeeded: limit), &rxIndex)
        if got > 0 { port.pointee.counters.batches &+= 1 }
        return Int(got)
    }

    @inline(__always)
    mutating func frame(_ i: Int) -> (frame: Frame?, token: UInt64) {
        let desc = xsk_ring_cons__rx_desc(port.pointee.rx, rxIndex &+ UInt32(truncatingIfNeeded: i))!.pointee
        let chunk = desc.addr & port.pointee.chunkMask
        let length = Int(desc.len)
        port.pointee.counters.rx.add(length)
        let frame = Frame(
            buffer: port.pointee.area + Int(truncatingIfNeeded: chunk), bufferSize: port.pointee.frameSize,
            dataOffset: Int(truncatingIfNeeded: desc.addr &- chunk), length: length, timestampNanos: now,
            ingressIfindex: port.pointee.ifindex, rxQueueIndex: port.pointee.queue)
        return (frame, chunk)
    }

    @inline(__always)
    mutating func release(_ count: Int) {
        xsk_ring_cons__release(port.pointee.rx, UInt32(truncatingIfNeeded: count))
    }
}

/// Applies verdicts to frames received on port `index` of a worker: DROP and ABORTED recycle the chunk, TX queues it
/// on the same socket, PASS writes it to the TAP device (when there is one) and recycles it, REDIRECT sends it out of
/// another socket of the same worker (copied into that socket's UMEM) or of this one. Counters are plain integers in
/// the port, published by the worker once per round.
struct AFXDPPortSink: VerdictSink {
    let ports: UnsafeMutablePointer<AFXDPPort>
    let portCount: Int
    let index: Int
    let tapFD: Int32

    @inline(__always)
    init(ports: UnsafeMutablePointer<AFXDPPort>, portCount: Int, index: Int, tapFD: Int32) {
        self.ports = ports
        self.portCount = portCount
        self.index = index
        self.tapFD = tapFD
    }

    @inline(__always)
    mutating func apply(_ verdict: Verdict, to frame: Frame, token chunk: UInt64) {
        let port = ports + index
        switch verdict.action {
        case .drop:
            port.pointee.counters.drop.add(frame.length)
            port.pointee.freeFrames.pointee.push(chunk)
        case .aborted:
            port.pointee.counters.aborted.add(frame.length)
            port.pointee.freeFrames.pointee.push(chunk)
        case .tx:
            port.pointee.counters.tx.add(frame.length)
            if !port.pointee.enqueueTX(address: chunk &+ UInt64(frame.dataOffset), length: UInt32(frame.length)) {
                port.pointee.counters.txDropped &+= 1
                port.pointee.freeFrames.pointee.push(chunk)
            }
        case .pass:
            port.pointee.counters.pass.add(frame.length)
            if tapFD >= 0 && write(tapFD, frame.data, frame.length) == frame.length {
                port.pointee.counters.passReinjected &+= 1
            } else {
                port.pointee.counters.passDropped &+= 1
            }
            port.pointee.freeFrames.pointee.push(chunk)
        case .redirect:
            port.pointee.counters.redirect.add(frame.length)
            redirect(frame, chunk: chunk, target: verdict.redirectTarget)
        }
    }

    @inline(__always)
    mutating func endBatch(budgetOverruns: UInt64, filtered: UInt64) {
        ports[index].counters.budgetExceeded &+= budgetOverruns
        ports[index].counters.filtered &+= filtered
    }

    /// Sends a REDIRECT frame out of the target port: in place when the target is the receiving socket, otherwise
    /// copied into the target's UMEM (every socket has its own UMEM).
    @inline(__always)
    private func redirect(_ frame: Frame, chunk: UInt64, target: RedirectTarget?) {
        let source = ports + index
        var targetIndex = -1
        switch target {
        case .socket(let socketIndex):
            for t in 0..<portCount where ports[t].socketIndex == socketIndex {
                targetIndex = t
                break
            }
        case .interface(let ifindex):
            for t in 0..<portCount where ports[t].ifindex == ifindex {
                if targetIndex < 0 || ports[t].queue == source.pointee.queue { targetIndex = t }
            }
        case nil:
            break
        }
        guard targetIndex >= 0 else {
            source.pointee.counters.redirectUnknownTarget &+= 1
            source.pointee.freeFrames.pointee.push(chunk)
            return
        }
        if targetIndex == index {
            if !source.pointee.enqueueTX(address: chunk &+ UInt64(frame.dataOffset), length: UInt32(frame.length)) {
                source.pointee.counters.txDropped &+= 1
                source.pointee.freeFrames.pointee.push(chunk)
            }
            return
        }
        let target = ports + targetIndex
        source.pointee.freeFrames.pointee.push(chunk)  // the source chunk is done once copied
        guard frame.length <= target.pointee.frameSize else {
            source.pointee.counters.txDropped &+= 1
            return
        }
        var copyChunk = target.pointee.freeFrames.pointee.pop()
        if copyChunk == nil {
            target.pointee.reapCompletions()
            copyChunk = target.pointee.freeFrames.pointee.pop()
        }
        guard let destination = copyChunk else {
            source.pointee.counters.txDropped &+= 1
            return
        }
        let offset = min(frame.dataOffset, target.pointee.frameSize - frame.length)
        (target.pointee.area + Int(truncatingIfNeeded: destination) + offset).copyMemory(
            from: frame.data, byteCount: frame.length)
        if !target.pointee.enqueueTX(address: destination &+ UInt64(offset), length: UInt32(frame.length)) {
            source.pointee.counters.txDropped &+= 1
            target.pointee.freeFrames.pointee.push(destination)
        }
    }
}
