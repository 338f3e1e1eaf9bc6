import Testing

@testable import BPFVM

/// An environment with a trace buffer of `capacity` bytes.
final class TraceFixture {
    let environment = TestEnvironment()
    let buffer: UnsafeMutablePointer<TraceBuffer>

    init(capacity: Int = 4096) {
        buffer = .allocate(capacity: 1)
        buffer.initialize(to: TraceBuffer(capacity: capacity))
        environment.pointer.pointee.trace = buffer
    }

    deinit {
        buffer.pointee.bytes.deallocate()
        buffer.deinitialize(count: 1)
        buffer.deallocate()
    }

    /// Calls `bpf_trace_printk(format, size, a1, a2, a3)`; `size` defaults to the format's length plus its NUL.
    func printk(_ format: String, size: Int? = nil, _ a1: UInt64 = 0, _ a2: UInt64 = 0, _ a3: UInt64 = 0) -> Int64 {
        var bytes = Array(format.utf8)
        bytes.append(0)
        return bytes.withUnsafeBytes { f in
            Int64(
                bitPattern: TracePrintk.helper(
                    UnsafeMutableRawPointer(environment.pointer), UInt64(UInt(bitPattern: f.baseAddress)),
                    UInt64(size ?? bytes.count), a1, a2, a3))
        }
    }

    var text: String {
        String(decoding: UnsafeBufferPointer(start: buffer.pointee.bytes, count: buffer.pointee.count), as: UTF8.self)
    }
    var dropped: Int { buffer.pointee.dropped }
}

/// A register holding a negative C `int` the way clang passes it to a variadic helper (zero-extended 32 bits).
private func int32(_ value: Int32) -> UInt64 { UInt64(UInt32(bitPattern: value)) }

@Suite("bpf_trace_printk")
struct HelperTracePrintkTests {
    /// Formats, arguments and results; the return values were observed on Linux 6.18 with the same arguments.
    static let kernelCases: [(format: String, args: [UInt64], text: String)] = [
        ("a=%d b=%5u c=%-4x|\n", [48879, int32(-3), int32(-5)], "a=48879 b=4294967293 c=fffffffb|\n"),
        ("x=%08X y=%+d w=%c", [48879, int32(-3), 0x51], "x=0000BEEF y=-3 w=Q"),
        ("%lld %llu %lx", [int32(-5), int32(-5), int32(-5)], "4294967291 4294967291 fffffffb"),
        ("% d|%-6d|%06d", [5, int32(-5), int32(-5)], " 5|-5    |-00005"),
        ("%ld %i %u", [1 << 40, int32(-1), int32(-1)], "1099511627776 -1 4294967295"),
        ("%%%c%%%-3c|", [0x41, 0x42], "%A%B  |"),
        ("%d %x", [0x1_0000_0005, 0x1_ffff_ffff], "5 ffffffff"),
        ("%+u %+x %X", [7, 255, 0xabcdef], "7 ff ABCDEF"),
        ("%pKabc|%px!", [0x1234, 0xab], "0000000000001234|00000000000000ab!"),
        ("%10pK|", [0x1234], "      1234|"),
        ("%5px|%-20px|", [0x1234, 0xab], " 1234|ab                  |"),
    ]

    @Test("formats integers, characters and pointers as the kernel's vsprintf", arguments: kernelCases.indices)
    func formats(_ index: Int) {
        let c = Self.kernelCases[index]
        let trace = TraceFixture()
        let args = c.args + [0, 0, 0]
        #expect(trace.printk(c.format, args[0], args[1], args[2]) == Int64(c.text.utf8.count))
        #expect(trace.text == (c.text.hasSuffix("\n") ? c.text : c.text + "\n"))
    }

    @Test(
        "formats the kernel rejects return -EINVAL and print nothing",
        arguments: [
            "\u{01}", "abc%", "%sa", "%pQ", "%5.2d", "%#x", "%hd", "%d %d %d %d", "%z",
        ])
    func kernelRejects(_ format: String) {
        let trace = TraceFixture()
        #expect(trace.printk(format, 1, 2, 3) == Errno.EINVAL)
        #expect(trace.text.isEmpty && trace.dropped == 0)
        #expect(TracePrintk.check(format: Array(format.utf8) + [0]) != nil)
    }

    @Test("a format without a NUL inside fmt_size is rejected")
    func missingTerminator() {
        let trace = TraceFixture()
        #expect(trace.printk("%lu", size: 2, 1) == Errno.EINVAL)
        #expect(TracePrintk.check(format: Array("%lu".utf8)) == "format has no NUL terminator within its size")
    }

    @Test(
        "conversions that read memory are refused by Sluice (the kernel accepts them)",
        arguments: [
            "%s", "%s!", "%pks", "%pus", "%pI4", "%pi6", "%pB", "%ps", "%pS",
        ])
    func memoryReadingConversions(_ format: String) throws {
        let trace = TraceFixture()
        #expect(trace.printk(format, 1) == Errno.EINVAL)
        let reason = try #require(TracePrintk.check(format: Array(format.utf8) + [0]))
        #expect(reason.contains("reads memory"))
    }

    @Test("accepted formats pass the load-time check")
    func checkAccepts() {
        for c in Self.kernelCases { #expect(TracePrintk.check(format: Array(c.format.utf8) + [0]) == nil) }
    }

    @Test("each call is one line; a message longer than 1023 bytes is cut, the return value is not")
    func records() {
        let trace = TraceFixture()
        #expect(trace.printk("one %d", 1) == 5)
        #expect(trace.printk("two\n") == 4)
        #expect(trace.text == "one 1\ntwo\n")
        let long = TraceFixture()
        #expect(long.printk("%1100d", 7) == 1100)
        #expect(long.buffer.pointee.count == 1024)
        #expect(long.text.hasSuffix("  \n"))
    }

    @Test("a record that does not fit is dropped whole and counted; later ones that fit are kept")
    func overflow() {
        let trace = TraceFixture(capacity: 16)
        #expect(trace.printk("0123456789") == 10)  // 11 bytes with its newline
        #expect(trace.printk("abcdef") == 6)  // 7 bytes: dropped
        #expect(trace.printk("xyzw") == 4)  // 5 bytes: fits exactly
        #expect(trace.text == "0123456789\nxyzw\n")
        #expect(trace.dropped == 1)
        #expect(trace.printk("!") == 1)
        #expect(trace.dropped == 2)
    }

    @Test("without a trace buffer the call still validates and returns the length")
    func noBuffer() {
        let env = TestEnvironment()
        let format = Array("n=%u".utf8) + [0]
        let result = format.withUnsafeBytes {
            TracePrintk.helper(
                UnsafeMutableRawPointer(env.pointer), UInt64(UInt(bitPattern: $0.baseAddress)), 5, 12, 0, 0)
        }
        #expect(result == 4)
    }
}
