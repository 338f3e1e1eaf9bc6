import Testing

@testable import BPFVM

/// A frame laid out like the kernel's `BPF_PROG_TEST_RUN` buffer on x86-64: a 4096-byte frame, 256 bytes of headroom
/// before `data`, and the usable end (`data_hard_end`) 320 bytes (`SKB_DATA_ALIGN(sizeof(struct skb_shared_info))`)
/// before the frame's end, so 3776 bytes from `data_hard_start`. The headroom is filled with a marker byte so tests
/// can see what helpers leave uncleared. Owns its memory and an environment pointing at it.
final class TestFrame {
    static let frameSize = 4096
    static let usableEnd = 4096 - 320
    static let headroomMarker: UInt8 = 0xAA

    let buffer: UnsafeMutableRawPointer
    let environment: UnsafeMutablePointer<ExecutionEnvironment>

    init(packet: [UInt8], metaLength: Int = 0, headroom: Int = XDPFrameLimits.headroom, usableEnd: Int = usableEnd) {
        buffer = .allocate(byteCount: Self.frameSize, alignment: 64)
        buffer.initializeMemory(as: UInt8.self, repeating: Self.headroomMarker, count: Self.frameSize)
        (buffer + headroom).copyMemory(from: packet, byteCount: packet.count)
        environment = .allocate(capacity: 1)
        environment.initialize(to: ExecutionEnvironment())
        environment.pointee.setFrame(
            hardStart: buffer, dataOffset: headroom, length: packet.count, metaLength: metaLength, frameSize: usableEnd)
    }

    deinit {
        environment.deinitialize(count: 1)
        environment.deallocate()
        buffer.deallocate()
    }

    /// A packet of `count` bytes 1, 2, 3, … (what the kernel comparison runs used).
    static func countingPacket(_ count: Int = 60) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 + 1) } }

    /// Calls `helper` as the interpreter would, with this frame's environment.
    @discardableResult
    func call(
        _ helper: HelperFunction, _ r1: UInt64 = 0, _ r2: UInt64 = 0, _ r3: UInt64 = 0, _ r4: UInt64 = 0,
        _ r5: UInt64 = 0
    ) -> Int64 {
        Int64(bitPattern: helper(UnsafeMutableRawPointer(environment), r1, r2, r3, r4, r5))
    }

    /// A signed `int delta` argument as a register value.
    static func delta(_ value: Int) -> UInt64 { UInt64(bitPattern: Int64(value)) }

    var dataOffset: Int { offset(environment.pointee.data) }
    var metaOffset: Int { offset(environment.pointee.dataMeta) }
    var endOffset: Int { offset(environment.pointee.dataEnd) }
    var length: Int { endOffset - dataOffset }
    var metaLength: Int { dataOffset - metaOffset }

    /// The bytes `data ..< data_end`.
    var data: [UInt8] { bytes(dataOffset..<endOffset) }
    /// The bytes `data_meta ..< data`.
    var metadata: [UInt8] { bytes(metaOffset..<dataOffset) }

    func bytes(_ range: Range<Int>) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: buffer + range.lowerBound, count: range.count))
    }

    func write(_ bytes: [UInt8], at offset: Int) { (buffer + offset).copyMemory(from: bytes, byteCount: bytes.count) }

    private func offset(_ pointer: UnsafeMutableRawPointer?) -> Int { pointer.map { $0 - buffer } ?? -1 }
}

enum Errno {
    static let EACCES: Int64 = -13
    static let EFAULT: Int64 = -14
    static let EINVAL: Int64 = -22
    static let ENOTSUPP: Int64 = -524
}

// Expected limits and results below are the kernel's: each was observed on Linux 6.18 (x86-64) with
// BPF_PROG_TEST_RUN on the same 60-byte packet, and follows from net/core/filter.c.

@Suite("bpf_xdp_adjust_head")
struct FrameAdjustHeadTests {
    @Test("grows into the headroom down to data_hard_start + sizeof(struct xdp_frame), without clearing it")
    func growsToTheFrameReserve() {
        let frame = TestFrame(packet: TestFrame.countingPacket())
        #expect(frame.call(XDPHelpers.adjustHead, 0, TestFrame.delta(-216)) == 0)
        #expect(frame.dataOffset == XDPFrameLimits.xdpFrameSize)
        #expect(frame.length == 60 + 216)
        #expect(frame.metaOffset == frame.dataOffset)
        // The uncovered bytes are whatever the headroom held (the kernel's test run zeroes its headroom; we don't).
        #expect(Array(frame.data.prefix(216)) == [UInt8](repeating: TestFrame.headroomMarker, count: 216))
        #expect(Array(frame.data.suffix(60)) == TestFrame.countingPacket())
    }

    @Test("one byte more than the headroom allows fails with -EINVAL and changes nothing")
    func refusesToEatTheFrameReserve() {
        let frame = TestFrame(packet: TestFrame.countingPacket())
        #expect(frame.call(XDPHelpers.adjustHead, 0, TestFrame.delta(-217)) == Errno.EINVAL)
        #expect(frame.dataOffset == 256 && frame.length == 60 && frame.metaLength == 0)
    }

    @Test("shrinks to exactly ETH_HLEN bytes, not fewer")
    func keepsAnEthernetHeader() {
        let frame = TestFrame(packet: TestFrame.countingPacket())
        #expect(frame.call(XDPHelpers.adjustHead, 0, TestFrame.delta(46)) == 0)
        #expect(frame.data == Array(TestFrame.countingPacket().suffix(14)))
        #expect(frame.call(XDPHelpers.adjustHead, 0, TestFrame.delta(1)) == Errno.EINVAL)
        #expect(frame.length == 14)
        let other = TestFrame(packet: TestFrame.countingPacket())
        #expect(other.call(XDPHelpers.adjustHead, 0, TestFrame.delta(47)) == Errno.EINVAL)
    }

    @Test("the delta is a 32-bit int: high register bits are ignored, INT_MIN fails")
    func deltaIsThirtyTwoBits() {
        let frame = TestFrame(packet: TestFrame.countingPacket())
        #expect(frame.call(XDPHelpers.adjustHead, 0, 0xffff_ffff_0000_0000 | 14) == 0)
        #expect(frame.dataOffset == 256 + 14)
        #expect(frame.call(XDPHelpers.adjustHead, 0, UInt64(UInt32(bitPattern: Int32.min))) == Errno.EINVAL)
        #expect(frame.dataOffset == 256 + 14)
    }

    @Test("metadata moves with data, and its length counts against the headroom")
    func metadataMovesWithData() {
        let frame = TestFrame(packet: TestFrame.countingPacket(), metaLength: 8)
        frame.write([1, 2, 3, 4, 5, 6, 7, 8], at: 248)
        #expect(frame.call(XDPHelpers.adjustHead, 0, TestFrame.delta(-209)) == Errno.EINVAL)
        #expect(frame.call(XDPHelpers.adjustHead, 0, TestFrame.delta(-208)) == 0)
        #expect(frame.dataOffset == 48 && frame.metaOffset == 40)
        #expect(frame.metadata == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(frame.call(XDPHelpers.adjustHead, 0, TestFrame.delta(254)) == 0)  // down to 14 bytes
        #expect(frame.length == 14 && frame.metadata == [1, 2, 3, 4, 5, 6, 7, 8])
    }
}

@Suite("bpf_xdp_adjust_meta")
struct FrameAdjustMetaTests {
    @Test("grows up to the frame reserve (216 bytes with 256 of headroom) in steps of 4")
    func growsToTheReserve() {
        let frame = TestFrame(packet: TestFrame.countingPacket())
        #expect(frame.call(XDPHelpers.adjustMeta, 0, TestFrame.delta(-216)) == 0)
        #expect(frame.metaLength == 216 && frame.metaOffset == XDPFrameLimits.xdpFrameSize)
        #expect(frame.metadata == [UInt8](repeating: TestFrame.headroomMarker, count: 216))  // not cleared
        #expect(frame.length == 60 && frame.dataOffset == 256)
    }

    @Test("below the reserve → -EINVAL; meta beyond data → -EINVAL; not a multiple of 4 → -EACCES")
    func failures() {
        let frame = TestFrame(packet: TestFrame.countingPacket())
        #expect(frame.call(XDPHelpers.adjustMeta, 0, TestFrame.delta(-220)) == Errno.EINVAL)
        #expect(frame.call(XDPHelpers.adjustMeta, 0, TestFrame.delta(4)) == Errno.EINVAL)
        #expect(frame.call(XDPHelpers.adjustMeta, 0, TestFrame.delta(-6)) == Errno.EACCES)
        #expect(frame.metaLength == 0)
        #expect(frame.call(XDPHelpers.adjustMeta, 0, TestFrame.delta(-8)) == 0)
        #expect(frame.call(XDPHelpers.adjustMeta, 0, TestFrame.delta(6)) == Errno.EACCES)
        #expect(frame.call(XDPHelpers.adjustMeta, 0, TestFrame.delta(8)) == 0)
        #expect(frame.metaLength == 0)
    }

    @Test("with more headroom, the length limit is 252 (type_max(meta_len) = 255, aligned to 4)")
    func lengthLimit() {
        let frame = TestFrame(packet: TestFrame.countingPacket(), headroom: 512)
        #expect(frame.call(XDPHelpers.adjustMeta, 0, TestFrame.delta(-256)) == Errno.EACCES)
        #expect(frame.call(XDPHelpers.adjustMeta, 0, TestFrame.delta(-252)) == 0)
        #expect(frame.metaLength == XDPFrameLimits.maxMetadataLength)
    }

    @Test("a frame without metadata support (data_meta > data) → -ENOTSUPP")
    func unsupported() {
        let frame = TestFrame(packet: TestFrame.countingPacket())
        frame.environment.pointee.dataMeta = frame.environment.pointee.data! + 1
        #expect(frame.call(XDPHelpers.adjustMeta, 0, TestFrame.delta(-4)) == Errno.ENOTSUPP)
        // adjust_head then treats the metadata length as 0.
        #expect(frame.call(XDPHelpers.adjustHead, 0, TestFrame.delta(-216)) == 0)
    }
}

@Suite("bpf_xdp_adjust_tail")
struct FrameAdjustTailTests {
    @Test("grows up to data_hard_end, zero-filling the new bytes")
    func growsAndZeroes() {
        let frame = TestFrame(packet: TestFrame.countingPacket())
        #expect(frame.call(XDPHelpers.adjustTail, 0, TestFrame.delta(3461)) == Errno.EINVAL)
        #expect(frame.length == 60)
        #expect(frame.call(XDPHelpers.adjustTail, 0, TestFrame.delta(3460)) == 0)
        #expect(frame.endOffset == TestFrame.usableEnd)
        #expect(Array(frame.data.prefix(60)) == TestFrame.countingPacket())
        #expect(frame.data.dropFirst(60).allSatisfy { $0 == 0 })
    }

    @Test("shrinks to ETH_HLEN bytes, not fewer; shrinking leaves the bytes behind untouched")
    func shrinks() {
        let frame = TestFrame(packet: TestFrame.countingPacket())
        #expect(frame.call(XDPHelpers.adjustTail, 0, TestFrame.delta(-47)) == Errno.EINVAL)
        #expect(frame.call(XDPHelpers.adjustTail, 0, TestFrame.delta(-46)) == 0)
        #expect(frame.data == Array(TestFrame.countingPacket().prefix(14)))
        #expect(frame.bytes(270..<316) == Array(TestFrame.countingPacket().suffix(46)))
        // Growing again zeroes what shrinking left behind.
        #expect(frame.call(XDPHelpers.adjustTail, 0, TestFrame.delta(10)) == 0)
        #expect(frame.data.suffix(10).allSatisfy { $0 == 0 })
    }
}

@Suite("bpf_xdp_load_bytes / bpf_xdp_store_bytes / bpf_xdp_get_buff_len")
struct FrameLoadStoreTests {
    @Test("load copies bytes at data + offset; the last whole range is allowed")
    func loads() {
        let frame = TestFrame(packet: TestFrame.countingPacket())
        var out = [UInt8](repeating: 0, count: 16)
        let result = out.withUnsafeMutableBytes { buffer in
            frame.call(XDPHelpers.loadBytes, 0, 44, UInt64(UInt(bitPattern: buffer.baseAddress)), 16)
        }
        #expect(result == 0)
        #expect(out == Array(45...60))
    }

    @Test(
        "past data_end → -EINVAL; offset or length above 0xffff → -EFAULT; nothing copied",
        arguments: [
            (UInt64(45), UInt64(16), Errno.EINVAL), (65535, 16, Errno.EINVAL), (65536, 16, Errno.EFAULT),
            (0xffff_ffff, 16, Errno.EFAULT), (0, 0x10000, Errno.EFAULT), (0, 61, Errno.EINVAL),
        ])
    func loadFailures(offset: UInt64, length: UInt64, expected: Int64) {
        let frame = TestFrame(packet: TestFrame.countingPacket())
        var out = [UInt8](repeating: 0xEE, count: 16)
        let result = out.withUnsafeMutableBytes { buffer in
            frame.call(XDPHelpers.loadBytes, 0, offset, UInt64(UInt(bitPattern: buffer.baseAddress)), length)
        }
        #expect(result == expected)
        #expect(out.allSatisfy { $0 == 0xEE })
    }

    @Test("store writes into the packet with the same bounds")
    func stores() {
        let frame = TestFrame(packet: TestFrame.countingPacket())
        let bytes: [UInt8] = [9, 8, 7, 6]
        let stored = bytes.withUnsafeBytes {
            frame.call(XDPHelpers.storeBytes, 0, 56, UInt64(UInt(bitPattern: $0.baseAddress)), 4)
        }
        #expect(stored == 0)
        #expect(Array(frame.data.suffix(4)) == bytes)
        let refused = bytes.withUnsafeBytes {
            frame.call(XDPHelpers.storeBytes, 0, 57, UInt64(UInt(bitPattern: $0.baseAddress)), 4)
        }
        #expect(refused == Errno.EINVAL)
        #expect(frame.bytes(316..<320) == [UInt8](repeating: TestFrame.headroomMarker, count: 4))
    }

    @Test("get_buff_len follows the frame's current length")
    func buffLen() {
        let frame = TestFrame(packet: TestFrame.countingPacket())
        #expect(frame.call(XDPHelpers.getBuffLen) == 60)
        frame.call(XDPHelpers.adjustHead, 0, TestFrame.delta(-20))
        frame.call(XDPHelpers.adjustTail, 0, TestFrame.delta(-6))
        #expect(frame.call(XDPHelpers.getBuffLen) == 74)
    }
}
