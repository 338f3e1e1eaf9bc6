import CLibXDP
import Foundation
import Glibc
import Testing

@testable import Sluice

/// The live engine's verdict handling without root or a socket: the pipeline's AF_XDP source (`AFXDPRingSource`) and
/// sink (`AFXDPPortSink`) run over real libxdp ring structures laid out in plain memory, as the kernel lays them out
/// in the mmapped rings. The test is the kernel's side: it produces RX descriptors and reads what Sluice reserved on
/// the TX ring, what it recycled into the free-frame stack and what it wrote to the TAP descriptor (a pipe here).
@Suite struct AFXDPVerdictTests {
    static let frameSize = 2048
    static let frames = 16
    static let ringSize: UInt32 = 16

    /// One fake socket: UMEM, free-frame stack, and the four rings.
    final class FakeSocket {
        let area: UnsafeMutableRawPointer
        let stack: UnsafeMutablePointer<FrameStack>
        let rx = UnsafeMutablePointer<xsk_ring_cons>.allocate(capacity: 1)
        let tx = UnsafeMutablePointer<xsk_ring_prod>.allocate(capacity: 1)
        let fill = UnsafeMutablePointer<xsk_ring_prod>.allocate(capacity: 1)
        let completion = UnsafeMutablePointer<xsk_ring_cons>.allocate(capacity: 1)
        private var allocations: [UnsafeMutableRawPointer] = []

        init() {
            area = .allocate(byteCount: AFXDPVerdictTests.frameSize * AFXDPVerdictTests.frames, alignment: 4096)
            area.initializeMemory(as: UInt8.self, repeating: 0, count: AFXDPVerdictTests.frameSize * AFXDPVerdictTests.frames)
            let base = UnsafeMutablePointer<UInt64>.allocate(capacity: AFXDPVerdictTests.frames)
            stack = .allocate(capacity: 1)
            stack.initialize(to: FrameStack(base: base, count: 0, capacity: AFXDPVerdictTests.frames))
            rx.initialize(to: ring(entry: MemoryLayout<xdp_desc>.stride))
            completion.initialize(to: ring(entry: 8))
            // libxdp declares the producer and consumer rings with one macro: the same fields in the same order.
            tx.initialize(to: unsafeBitCast(ring(entry: MemoryLayout<xdp_desc>.stride), to: xsk_ring_prod.self))
            fill.initialize(to: unsafeBitCast(ring(entry: 8), to: xsk_ring_prod.self))
            // A producer ring starts with its whole size free, as xsk_socket__create leaves it.
            tx.pointee.cached_cons = AFXDPVerdictTests.ringSize
            fill.pointee.cached_cons = AFXDPVerdictTests.ringSize
        }

        private func shared(_ bytes: Int) -> UnsafeMutableRawPointer {
            let p = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            p.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
            allocations.append(p)
            return p
        }

        /// A ring of `ringSize` entries of `entry` bytes, its producer, consumer and flags words in shared memory.
        private func ring(entry: Int) -> xsk_ring_cons {
            var ring = xsk_ring_cons()
            ring.mask = AFXDPVerdictTests.ringSize - 1
            ring.size = AFXDPVerdictTests.ringSize
            ring.producer = shared(4).assumingMemoryBound(to: UInt32.self)
            ring.consumer = shared(4).assumingMemoryBound(to: UInt32.self)
            ring.flags = shared(4).assumingMemoryBound(to: UInt32.self)
            ring.ring = shared(entry * Int(AFXDPVerdictTests.ringSize))
            return ring
        }

        func port(ifindex: UInt32, queue: UInt32, socketIndex: UInt32) -> AFXDPPort {
            AFXDPPort(
                fill: fill, completion: completion, rx: rx, tx: tx, area: area, frameSize: AFXDPVerdictTests.frameSize,
                fillSize: AFXDPVerdictTests.ringSize, completionSize: AFXDPVerdictTests.ringSize, freeFrames: stack,
                ifindex: ifindex, queue: queue, socketIndex: socketIndex)
        }

        /// The kernel's side of RX: a frame of `bytes` in chunk `chunk` at `headroom`.
        func deliver(chunk: Int, headroom: Int, bytes: [UInt8]) {
            let address = UInt64(chunk * AFXDPVerdictTests.frameSize + headroom)
            (area + Int(address)).copyMemory(from: bytes, byteCount: bytes.count)
            let producer = rx.pointee.producer.pointee
            let descs = rx.pointee.ring.assumingMemoryBound(to: xdp_desc.self)
            descs[Int(producer & rx.pointee.mask)] = xdp_desc(addr: address, len: UInt32(bytes.count), options: 0)
            rx.pointee.producer.pointee = producer &+ 1
        }

        /// TX descriptors Sluice reserved (submitted or not), in order.
        var reservedTX: [xdp_desc] {
            let start = tx.pointee.producer.pointee
            let end = tx.pointee.cached_prod
            let descs = tx.pointee.ring.assumingMemoryBound(to: xdp_desc.self)
            return (0..<(end &- start)).map { descs[Int((start &+ $0) & tx.pointee.mask)] }
        }

        var freeChunks: [UInt64] { (0..<stack.pointee.count).map { stack.pointee.base[$0] } }

        func bytes(at address: UInt64, count: Int) -> [UInt8] {
            Array(UnsafeRawBufferPointer(start: area + Int(address), count: count))
        }

        deinit {
            for p in allocations { p.deallocate() }
            stack.pointee.base.deallocate()
            stack.deallocate()
            area.deallocate()
            rx.deallocate()
            tx.deallocate()
            fill.deallocate()
            completion.deallocate()
        }
    }

    /// Verdict from the frame's first byte; a REDIRECT goes to the socket numbered by the second; the third byte
    /// asks the program to move `data` outside the chunk (which must end as ABORTED).
    struct ByteVerdict: FrameProcessor {
        var redirectTarget: RedirectTarget?
        mutating func process(_ frame: inout Frame) -> UInt64 {
            let bytes = frame.bytes
            redirectTarget = .socket(index: UInt32(bytes[1]))
            if bytes[2] == 1 { frame.dataOffset = frame.bufferSize + 10 }
            return UInt64(bytes[0])
        }
    }

    /// The live worker's pipeline for port 0 of `ports`.
    static func pipeline(
        _ ports: UnsafeMutablePointer<AFXDPPort>, count: Int, tapFD: Int32 = -1
    ) -> Pipeline<AFXDPRingSource, AFXDPPortSink> {
        Pipeline(
            source: AFXDPRingSource(port: ports, now: 1_000),
            sink: AFXDPPortSink(ports: ports, portCount: count, index: 0, tapFD: tapFD))
    }

    static func frame(_ action: XDPAction, target: UInt8 = 0, escape: Bool = false, fill: UInt8) -> [UInt8] {
        [UInt8(action.rawValue), target, escape ? 1 : 0] + [UInt8](repeating: fill, count: 61)
    }

    @Test("each verdict lands where the kernel would put it: TX ring, free stack, TAP, the other socket")
    func verdictsGoWhereTheyShould() throws {
        let a = FakeSocket()
        let b = FakeSocket()
        let ports = UnsafeMutablePointer<AFXDPPort>.allocate(capacity: 2)
        defer { ports.deallocate() }
        ports.initialize(to: a.port(ifindex: 7, queue: 0, socketIndex: 0))
        (ports + 1).initialize(to: b.port(ifindex: 8, queue: 0, socketIndex: 1))
        // b has two free chunks for redirected copies.
        b.stack.pointee.push(UInt64(3 * Self.frameSize))
        b.stack.pointee.push(UInt64(4 * Self.frameSize))
        var pipe: [Int32] = [0, 0]
        #expect(Glibc.pipe(&pipe) == 0)
        defer {
            close(pipe[0])
            close(pipe[1])
        }

        let frames: [(XDPAction, [UInt8])] = [
            (.drop, Self.frame(.drop, fill: 0xd0)),
            (.tx, Self.frame(.tx, fill: 0x7a)),
            (.pass, Self.frame(.pass, fill: 0x9a)),
            (.redirect, Self.frame(.redirect, target: 1, fill: 0x4e)),
            (.aborted, Self.frame(.drop, escape: true, fill: 0xee)),
            (.redirect, Self.frame(.redirect, target: 9, fill: 0x55)),  // no socket 9: counted, recycled
            (.aborted, [0x2a] + [UInt8](repeating: 1, count: 63)),  // unknown return value 42
        ]
        for (i, (_, bytes)) in frames.enumerated() { a.deliver(chunk: i, headroom: 256, bytes: bytes) }

        var processor = ByteVerdict()
        var pipeline = Self.pipeline(ports, count: 2, tapFD: pipe[1])
        let taken = pipeline.runBatch(upTo: 64, processor: &processor)
        #expect(taken == frames.count)
        // The RX ring was released: its consumer caught up with the producer.
        #expect(a.rx.pointee.consumer.pointee == UInt32(frames.count))
        #expect(pipeline.runBatch(upTo: 64, processor: &processor) == 0)

        let c = ports[0].counters
        #expect(c.rx.packets == UInt64(frames.count))
        #expect(c.drop.packets == 1 && c.tx.packets == 1 && c.pass.packets == 1)
        #expect(c.redirect.packets == 2 && c.aborted.packets == 2)
        #expect(c.redirectUnknownTarget == 1)
        #expect(c.passReinjected == 1 && c.passDropped == 0)
        #expect(c.batches == 1)

        // XDP_TX: the same chunk, same offset and length, reserved on a's TX ring.
        let tx = a.reservedTX
        #expect(tx.count == 1)
        #expect(tx.first?.addr == UInt64(1 * Self.frameSize + 256) && tx.first?.len == 64)
        #expect(ports[0].txReserved == 1)

        // DROP, PASS, ABORTED (two), the unknown redirect target and the redirected source chunk are recycled.
        #expect(Set(a.freeChunks) == Set([0, 2, 3, 4, 5, 6].map { UInt64($0 * Self.frameSize) }))

        // PASS went to the TAP descriptor, byte for byte.
        var tap = [UInt8](repeating: 0, count: 256)
        let n = read(pipe[0], &tap, tap.count)
        #expect(n == 64 && Array(tap[0..<64]) == frames[2].1)

        // REDIRECT to socket 1: copied into one of b's free chunks and reserved on b's TX ring.
        let btx = b.reservedTX
        #expect(btx.count == 1)
        if let desc = btx.first {
            #expect(b.bytes(at: desc.addr, count: Int(desc.len)) == frames[3].1)
        }
        #expect(b.freeChunks.count == 1)
    }

    @Test("a full TX ring: the frame is counted as dropped and its chunk recycled, nothing leaks")
    func fullTXRingRecycles() throws {
        let a = FakeSocket()
        let ports = UnsafeMutablePointer<AFXDPPort>.allocate(capacity: 1)
        defer { ports.deallocate() }
        ports.initialize(to: a.port(ifindex: 7, queue: 0, socketIndex: 0))
        // 14 descriptors sent and none completed by the kernel yet: only 2 TX slots free.
        a.tx.pointee.cached_prod = 14
        a.tx.pointee.producer.pointee = 14
        for i in 0..<4 { a.deliver(chunk: i, headroom: 256, bytes: Self.frame(.tx, fill: UInt8(i))) }
        var processor = ByteVerdict()
        var pipeline = Self.pipeline(ports, count: 1)
        #expect(pipeline.runBatch(upTo: 64, processor: &processor) == 4)
        #expect(a.reservedTX.count == 2)
        #expect(ports[0].counters.tx.packets == 4)
        #expect(ports[0].counters.txDropped == 2)
        #expect(Set(a.freeChunks) == Set([2, 3].map { UInt64($0 * Self.frameSize) }))
    }

    @Test("batches stop at the limit and take the rest next time, in order")
    func batchLimit() throws {
        let a = FakeSocket()
        let ports = UnsafeMutablePointer<AFXDPPort>.allocate(capacity: 1)
        defer { ports.deallocate() }
        ports.initialize(to: a.port(ifindex: 7, queue: 0, socketIndex: 0))
        for i in 0..<5 { a.deliver(chunk: i, headroom: 256, bytes: Self.frame(.drop, fill: UInt8(i))) }
        var processor = ByteVerdict()
        var pipeline = Self.pipeline(ports, count: 1)
        #expect(pipeline.runBatch(upTo: 3, processor: &processor) == 3)
        #expect(pipeline.runBatch(upTo: 3, processor: &processor) == 2)
        #expect(a.freeChunks == [0, 1, 2, 3, 4].map { UInt64($0 * Self.frameSize) })
        #expect(ports[0].counters.batches == 2)
    }
}
