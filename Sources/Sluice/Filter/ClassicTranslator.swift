import BPFVM

/// Translates a validated classic program to eBPF for an XDP-style context, the way the kernel's
/// `bpf_convert_filter` (net/core/filter.c) translates socket filters, with packet loads done by direct packet
/// access so that Sluice's verifier can prove them:
///
/// | classic                     | eBPF                                                                        |
/// |-----------------------------|-----------------------------------------------------------------------------|
/// | A, X                        | w0, w7 (32-bit; every write zero-extends); both start at 0                  |
/// | M[0…15]                     | 4-byte stack slots at r10 − 64 + 4·k                                        |
/// | (entry)                     | r9 = xdp_md.data, r6 = xdp_md.data_end                                      |
/// | ld [k] / ldh [k] / ldb [k]  | r2 = r9 + k + size; if r2 > r6 goto nomatch; ldx from r9 + k; be32/be16     |
/// | ld [x + k] (ind)            | r2 = w7 + k (64-bit, no wrap); if r2 > 0xffff − size goto nomatch;          |
/// |                             | r3 = r9 + r2; r2 = r3 + size;                                               |
/// |                             | if r2 > r6 goto nomatch; ldx from r3; be32/be16                             |
/// | ldx 4*([k]&0xf) (msh)       | as ldb [k] into w7; w7 &= 0xf; w7 <<= 2                                      |
/// | ld #len / ldx #len          | ldxw from xdp_md.ingress_ifindex, where `PacketFilter` puts the length      |
/// | ld #k / ldx #k / ld M[k] …  | mov32 / ldxw from the slot; st / stx: stxw to the slot                     |
/// | add/sub/…/xor #k or x       | the same 32-bit ALU operation on w0 with imm or w7 (div, mod unsigned)      |
/// | div x / mod x               | if r7 == 0 goto nomatch (the kernel's "division by zero returns 0"), then op |
/// | neg                         | neg32 w0                                                                    |
/// | jeq/jgt/jge/jset #k or x    | the JMP32 compare on w0 to the true target, then `ja` to the false one      |
/// |                             | (one jump when either target is the next instruction; inverted if jt = 0)   |
/// | ja k                        | ja                                                                          |
/// | tax / txa                   | mov32 w7, w0 / mov32 w0, w7                                                 |
/// | ret #k / ret a              | mov32 w0, k; exit / exit                                                    |
/// | nomatch (shared)            | mov32 w0, 0; exit                                                           |
///
/// A load past the end of the packet (or at an offset past `maxPacketOffset`, the kernel's `MAX_PACKET_OFF` for
/// direct packet access) ends the filter with 0, as the kernel's `bpf_skb_load_helper_*` and libpcap's
/// `bpf_filter` do. Absolute loads at negative offsets are the kernel's ancillary data (`SKF_AD_*`: protocol,
/// ifindex, VLAN tag, …) or `SKF_NET_OFF`/`SKF_LL_OFF` addressing, which need an skb: they are refused with an
/// error naming them. libpcap never emits them for a capture file's (dead) handle.
public enum ClassicTranslator {
    /// The highest packet offset a load may reach (`MAX_PACKET_OFF`).
    public static let maxPacketOffset: UInt32 = 0xffff
    /// `len` is read from this `xdp_md` field (`ingress_ifindex`), which `PacketFilter.matches` sets to the packet's
    /// length on the wire for each run: for a record cut short by a snapshot length, `len` is the wire length, as in
    /// libpcap's `bpf_filter` (tcpdump), while loads see only the captured bytes. A filter has no use for the
    /// interface index itself.
    public static let lengthContextOffset: Int16 = 12
    /// Where M[0] lives below the frame pointer.
    static let scratchBase: Int16 = -64

    // eBPF encoding fields (RFC 9669).
    private enum E {
        static let ldx: UInt8 = 0x01, stx: UInt8 = 0x03, alu: UInt8 = 0x04, jmp: UInt8 = 0x05, jmp32: UInt8 = 0x06
        static let alu64: UInt8 = 0x07
        static let mem: UInt8 = 0x60, w: UInt8 = 0x00, h: UInt8 = 0x08, b: UInt8 = 0x10
        static let k: UInt8 = 0x00, x: UInt8 = 0x08
        static let add: UInt8 = 0x00, and: UInt8 = 0x50, lsh: UInt8 = 0x60, neg: UInt8 = 0x80
        static let mov: UInt8 = 0xb0, end: UInt8 = 0xd0
        static let ja: UInt8 = 0x00, jeq: UInt8 = 0x10, jgt: UInt8 = 0x20, jge: UInt8 = 0x30, jset: UInt8 = 0x40
        static let jne: UInt8 = 0x50, jlt: UInt8 = 0xa0, jle: UInt8 = 0xb0, exit: UInt8 = 0x90
    }
    private static let regA: UInt8 = 0, regX: UInt8 = 7, regData: UInt8 = 9, regEnd: UInt8 = 6
    private static let regT1: UInt8 = 2, regT2: UInt8 = 3, regFP: UInt8 = 10

    private enum Target: Hashable {
        case classic(Int)
        case noMatch
    }

    /// Validates (`ClassicValidator`) and translates `program`.
    public static func translate(_ program: ClassicProgram) throws(FilterError) -> [Instruction] {
        try ClassicValidator.validate(program)
        let code = program.instructions
        let reachable = reachability(code)
        var out: [Instruction] = []
        out.reserveCapacity(code.count * 6 + 8)
        var start = [Int](repeating: 0, count: code.count)
        var fixups: [(at: Int, target: Target)] = []

        func emit(_ opcode: UInt8, dst: UInt8 = 0, src: UInt8 = 0, offset: Int16 = 0, imm: Int32 = 0) {
            out.append(Instruction(opcode: opcode, dst: dst, src: src, offset: offset, imm: imm))
        }
        func jump(_ opcode: UInt8, dst: UInt8 = 0, src: UInt8 = 0, imm: Int32 = 0, to target: Target) {
            fixups.append((out.count, target))
            emit(opcode, dst: dst, src: src, imm: imm)
        }
        func imm(_ k: UInt32) -> Int32 { Int32(bitPattern: k) }
        func slot(_ k: UInt32) -> Int16 { scratchBase + Int16(k) * 4 }
        func sizeCode(_ code: UInt16) -> (ebpf: UInt8, bytes: UInt32) {
            switch code & 0x18 {
            case ClassicOpcode.h: (E.h, 2)
            case ClassicOpcode.b: (E.b, 1)
            default: (E.w, 4)
            }
        }
        func byteSwap(_ dst: UInt8, bytes: UInt32) {
            // be16/be32: big-endian packet bytes to host order (a no-op on a big-endian host).
            if bytes > 1 { emit(E.alu | E.end | E.x, dst: dst, imm: Int32(bytes * 8)) }
        }
        /// Packet bytes [k, k + size) into `dst` (32-bit, host order), or no match.
        func loadAbsolute(_ k: UInt32, bytes: UInt32, into dst: UInt8, pc: Int) throws(FilterError) {
            let (ebpfSize, _) = bytes == 4 ? (E.w, 4) : bytes == 2 ? (E.h, 2) : (E.b, 1)
            if Int32(bitPattern: k) < 0 { throw ancillary(Int32(bitPattern: k), pc: pc) }
            guard UInt64(k) + UInt64(bytes) <= UInt64(maxPacketOffset) else {
                jump(E.jmp | E.ja, to: .noMatch)
                return
            }
            emit(E.alu64 | E.mov | E.x, dst: regT1, src: regData)
            emit(E.alu64 | E.add | E.k, dst: regT1, imm: Int32(k + bytes))
            jump(E.jmp | E.jgt | E.x, dst: regT1, src: regEnd, to: .noMatch)
            if k <= UInt32(Int16.max) {
                emit(E.ldx | E.mem | ebpfSize, dst: dst, src: regData, offset: Int16(k))
            } else {
                emit(E.alu64 | E.mov | E.x, dst: regT2, src: regData)
                emit(E.alu64 | E.add | E.k, dst: regT2, imm: Int32(k))
                emit(E.ldx | E.mem | ebpfSize, dst: dst, src: regT2)
            }
            byteSwap(dst, bytes: bytes)
        }

        // Prologue: packet pointers from xdp_md, A = X = 0 (as the kernel clears them).
        emit(E.ldx | E.mem | E.w, dst: regData, src: 1, offset: 0)
        emit(E.ldx | E.mem | E.w, dst: regEnd, src: 1, offset: 4)
        emit(E.alu | E.mov | E.k, dst: regA, imm: 0)
        emit(E.alu | E.mov | E.k, dst: regX, imm: 0)

        typealias O = ClassicOpcode
        for (pc, insn) in code.enumerated() {
            start[pc] = out.count
            guard reachable[pc] else { continue }
            let c = insn.code
            switch insn.instructionClass {
            case O.ld, O.ldx:
                let dst = insn.instructionClass == O.ld ? regA : regX
                switch c & 0xe0 {
                case O.imm: emit(E.alu | E.mov | E.k, dst: dst, imm: imm(insn.k))
                case O.mem: emit(E.ldx | E.mem | E.w, dst: dst, src: regFP, offset: slot(insn.k))
                case O.len:
                    // The packet's length as `PacketFilter` puts it in the context (see `lengthContextOffset`).
                    emit(E.ldx | E.mem | E.w, dst: dst, src: 1, offset: lengthContextOffset)
                case O.abs:
                    try loadAbsolute(insn.k, bytes: sizeCode(c).bytes, into: dst, pc: pc)
                case O.msh:
                    try loadAbsolute(insn.k, bytes: 1, into: regX, pc: pc)
                    emit(E.alu | E.and | E.k, dst: regX, imm: 0xf)
                    emit(E.alu | E.lsh | E.k, dst: regX, imm: 2)
                default:  // O.ind
                    let (ebpfSize, bytes) = sizeCode(c)
                    // X + k without wrapping around 2^32, as libpcap's bpf_filter (the kernel adds in 32 bits);
                    // X is at most 2^32 - 1 and k at most 0xffff here, so the 64-bit sum is exact.
                    guard insn.k <= maxPacketOffset else {
                        jump(E.jmp | E.ja, to: .noMatch)
                        break
                    }
                    emit(E.alu | E.mov | E.x, dst: regT1, src: regX)
                    emit(E.alu64 | E.add | E.k, dst: regT1, imm: imm(insn.k))
                    jump(E.jmp | E.jgt | E.k, dst: regT1, imm: Int32(maxPacketOffset - bytes), to: .noMatch)
                    emit(E.alu64 | E.mov | E.x, dst: regT2, src: regData)
                    emit(E.alu64 | E.add | E.x, dst: regT2, src: regT1)
                    emit(E.alu64 | E.mov | E.x, dst: regT1, src: regT2)
                    emit(E.alu64 | E.add | E.k, dst: regT1, imm: Int32(bytes))
                    jump(E.jmp | E.jgt | E.x, dst: regT1, src: regEnd, to: .noMatch)
                    emit(E.ldx | E.mem | ebpfSize, dst: regA, src: regT2)
                    byteSwap(regA, bytes: bytes)
                }
            case O.st: emit(E.stx | E.mem | E.w, dst: regFP, src: regA, offset: slot(insn.k))
            case O.stx: emit(E.stx | E.mem | E.w, dst: regFP, src: regX, offset: slot(insn.k))
            case O.alu:
                let op = UInt8(c & 0xf0)
                if c & 0xf0 == O.neg {
                    emit(E.alu | E.neg, dst: regA)
                } else if c & 0x08 == O.x {
                    if c & 0xf0 == O.div || c & 0xf0 == O.mod {
                        jump(E.jmp | E.jeq | E.k, dst: regX, imm: 0, to: .noMatch)
                    }
                    emit(E.alu | op | E.x, dst: regA, src: regX)
                } else {
                    emit(E.alu | op | E.k, dst: regA, imm: imm(insn.k))
                }
            case O.jmp:
                if c & 0xf0 == O.ja {
                    jump(E.jmp | E.ja, to: .classic(pc + 1 + Int(insn.k)))
                    break
                }
                let isX = c & 0x08 == O.x
                let source = isX ? E.x : E.k
                let op = UInt8(c & 0xf0)
                let whenTrue = Target.classic(pc + 1 + Int(insn.jt))
                let whenFalse = Target.classic(pc + 1 + Int(insn.jf))
                let inverse: UInt8? =
                    switch op {
                    case E.jeq: E.jne
                    case E.jgt: E.jle
                    case E.jge: E.jlt
                    default: nil
                    }
                func compare(_ op: UInt8, to target: Target) {
                    jump(E.jmp32 | op | source, dst: regA, src: isX ? regX : 0, imm: isX ? 0 : imm(insn.k), to: target)
                }
                if insn.jt == insn.jf {
                    jump(E.jmp | E.ja, to: whenTrue)
                } else if insn.jf == 0 {
                    compare(op, to: whenTrue)
                } else if insn.jt == 0, let inverse {
                    compare(inverse, to: whenFalse)
                } else {
                    compare(op, to: whenTrue)
                    jump(E.jmp | E.ja, to: whenFalse)
                }
            case O.ret:
                if c & 0x18 == O.k { emit(E.alu | E.mov | E.k, dst: regA, imm: imm(insn.k)) }
                emit(E.jmp | E.exit)
            default:  // O.misc
                if c & 0xf8 == O.tax {
                    emit(E.alu | E.mov | E.x, dst: regX, src: regA)
                } else {
                    emit(E.alu | E.mov | E.x, dst: regA, src: regX)
                }
            }
        }
        let noMatch = out.count
        if fixups.contains(where: { $0.target == .noMatch }) {
            emit(E.alu | E.mov | E.k, dst: regA, imm: 0)
            emit(E.jmp | E.exit)
        }
        for (at, target) in fixups {
            let destination: Int
            switch target {
            case .classic(let pc): destination = start[pc]
            case .noMatch: destination = noMatch
            }
            let distance = destination - (at + 1)
            guard let offset = Int16(exactly: distance) else {
                throw FilterError("translated program too large: a jump of \(distance) instructions does not fit")
            }
            out[at].offset = offset
        }
        return out
    }

    /// Classic instructions some path from the entry reaches (libpcap's optimiser leaves none unreachable, but a
    /// hand-written program may, and the eBPF verifier refuses unreachable code).
    static func reachability(_ code: [ClassicInstruction]) -> [Bool] {
        var reachable = [Bool](repeating: false, count: code.count)
        reachable[0] = true
        for (pc, insn) in code.enumerated() where reachable[pc] {
            switch insn.instructionClass {
            case ClassicOpcode.ret: break
            case ClassicOpcode.jmp where insn.code & 0xf0 == ClassicOpcode.ja:
                reachable[pc + 1 + Int(insn.k)] = true
            case ClassicOpcode.jmp:
                reachable[pc + 1 + Int(insn.jt)] = true
                reachable[pc + 1 + Int(insn.jf)] = true
            default: reachable[pc + 1] = true
            }
        }
        return reachable
    }

    static func ancillary(_ k: Int32, pc: Int) -> FilterError {
        let what: String
        if k >= ClassicOpcode.ancillaryOffset {
            let names: [Int32: String] = [
                0: "protocol", 4: "pkttype", 8: "ifindex", 12: "nlattr", 16: "nlattr_nest", 20: "mark", 24: "queue",
                28: "hatype", 32: "rxhash", 36: "cpu", 40: "alu_xor_x", 44: "vlan_tci", 48: "vlan_avail",
                52: "payload_offset", 56: "random", 60: "vlan_tpid",
            ]
            let field = k - ClassicOpcode.ancillaryOffset
            what =
                "the ancillary load SKF_AD_OFF + \(field) (\(names[field].map { "SKF_AD_" + $0.uppercased() } ?? "unknown"))"
        } else if k >= ClassicOpcode.networkOffset && k < ClassicOpcode.networkOffset + 0x100000 {
            what = "a load relative to the network header (SKF_NET_OFF + \(k - ClassicOpcode.networkOffset))"
        } else if k >= ClassicOpcode.linkLayerOffset && k < ClassicOpcode.linkLayerOffset + 0x100000 {
            what = "a load relative to the link-layer header (SKF_LL_OFF + \(k - ClassicOpcode.linkLayerOffset))"
        } else {
            what = "a load at negative offset \(k)"
        }
        return FilterError(
            "\(what) needs the kernel's socket buffer (skb) metadata, which a frame does not have; not supported",
            instructionIndex: pc)
    }
}
