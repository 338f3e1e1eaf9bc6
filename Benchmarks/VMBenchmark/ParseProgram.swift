import BPFVM

/// The benchmark's packet-parsing program: Ethernet (+ one VLAN tag) / IPv4 / UDP, the IPv4 header checksum, a flow
/// hash over the 4-tuple, and a verdict. It uses the conformance calling convention (r1 = frame, r2 = length) so the
/// C reference interpreter can run the very same instruction words. About 100 instructions execute per packet.
enum ParseProgram {
    static let source = """
        mov %r6, %r1
        mov %r7, %r1
        add %r7, %r2
        mov %r0, 2
        mov %r3, %r6
        add %r3, 14
        jgt %r3, %r7, out
        ldxh %r4, [%r6+12]
        be16 %r4
        jne %r4, 0x8100, novlan
        mov %r3, %r6
        add %r3, 18
        jgt %r3, %r7, out
        ldxh %r4, [%r6+16]
        be16 %r4
        add %r6, 4
        novlan:
        jne %r4, 0x0800, out
        mov %r3, %r6
        add %r3, 34
        jgt %r3, %r7, out
        ldxb %r5, [%r6+14]
        mov %r8, %r5
        rsh %r8, 4
        jne %r8, 4, out
        and %r5, 0xf
        lsh %r5, 2
        jlt %r5, 20, out
        ldxh %r8, [%r6+14]
        ldxh %r9, [%r6+16]
        add %r8, %r9
        ldxh %r9, [%r6+18]
        add %r8, %r9
        ldxh %r9, [%r6+20]
        add %r8, %r9
        ldxh %r9, [%r6+22]
        add %r8, %r9
        ldxh %r9, [%r6+24]
        add %r8, %r9
        ldxh %r9, [%r6+26]
        add %r8, %r9
        ldxh %r9, [%r6+28]
        add %r8, %r9
        ldxh %r9, [%r6+30]
        add %r8, %r9
        ldxh %r9, [%r6+32]
        add %r8, %r9
        mov %r9, %r8
        rsh %r9, 16
        and %r8, 0xffff
        add %r8, %r9
        mov %r9, %r8
        rsh %r9, 16
        add %r8, %r9
        and %r8, 0xffff
        jne %r8, 0xffff, badsum
        ldxb %r8, [%r6+23]
        jne %r8, 17, out
        mov %r3, %r6
        add %r3, %r5
        mov %r9, %r3
        add %r9, 22
        jgt %r9, %r7, out
        ldxh %r8, [%r3+16]
        be16 %r8
        ldxh %r9, [%r3+14]
        be16 %r9
        ldxw %r2, [%r6+26]
        ldxw %r4, [%r6+30]
        mov %r1, %r2
        xor %r1, %r4
        lsh %r9, 16
        or %r9, %r8
        xor %r1, %r9
        mul %r1, 0x1e3779b1
        mov %r2, %r1
        rsh %r2, 15
        xor %r1, %r2
        mul %r1, 0x05ebca6b
        mov %r2, %r1
        rsh %r2, 13
        xor %r1, %r2
        mul %r1, 0x02b2ae35
        mov %r2, %r1
        rsh %r2, 16
        xor %r1, %r2
        stxdw [%r10-8], %r1
        ldxdw %r2, [%r10-8]
        mov %r0, 1
        jeq %r8, 9, out
        mov %r0, 2
        and %r2, 1
        jeq %r2, 0, out
        mov %r0, 3
        out:
        exit
        badsum:
        mov %r0, 0
        exit
        """

    /// A 64-byte Ethernet/IPv4/UDP frame to port 53 with a correct header checksum.
    static func packet() -> [UInt8] {
        var frame = [UInt8](repeating: 0, count: 64)
        frame.replaceSubrange(0..<12, with: [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2])
        frame[12] = 0x08
        frame[13] = 0x00
        let ip: [UInt8] = [0x45, 0, 0, 50, 0x12, 0x34, 0x40, 0, 64, 17, 0, 0, 10, 1, 2, 3, 10, 4, 5, 6]
        frame.replaceSubrange(14..<34, with: ip)
        var sum: UInt32 = 0
        for i in stride(from: 14, to: 34, by: 2) { sum += UInt32(frame[i]) << 8 | UInt32(frame[i + 1]) }
        while sum > 0xffff { sum = (sum & 0xffff) + (sum >> 16) }
        let checksum = ~UInt16(sum)
        frame[24] = UInt8(checksum >> 8)
        frame[25] = UInt8(checksum & 0xff)
        frame.replaceSubrange(34..<42, with: [0x30, 0x39, 0, 53, 0, 30, 0, 0])
        return frame
    }
}
