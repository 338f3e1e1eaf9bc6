/// The interpreter's pre-decoded instruction: one 16-byte record per instruction slot, with the operation already
/// specialised (width, operand source, signedness, size) so that executing it is one dispatch and no decoding.
///
/// Jumps carry their absolute target index, immediates are sign-extended to 64 bits once, `lddw` carries its full
/// 64-bit value (map pointers and value addresses already resolved), and helper calls carry the helper's function
/// pointer. Index `i` here is instruction slot `i` of the original program, so faults name original indices.
@frozen
public struct DecodedInstruction: Sendable {
    public var op: DecodedOp
    public var dst: UInt8
    public var src: UInt8
    /// Spare byte: the field selector of context loads; the third register of `boundsCheckJgt`.
    public var aux: UInt8
    /// Memory offset, or absolute jump target.
    public var offset: Int32
    /// Sign-extended immediate, `lddw` value, helper function pointer, or call target.
    public var imm: UInt64

    @inlinable
    init(op: DecodedOp, dst: UInt8 = 0, src: UInt8 = 0, aux: UInt8 = 0, offset: Int32 = 0, imm: UInt64 = 0) {
        self.op = op
        self.dst = dst
        self.src = src
        self.aux = aux
        self.offset = offset
        self.imm = imm
    }
}

/// Specialised operations. Naming: `<op><width><source>`, width 64/32, source `Imm` or `Reg`.
public enum DecodedOp: UInt8, Sendable {
    // 64-bit ALU
    case add64Imm, add64Reg, sub64Imm, sub64Reg, mul64Imm, mul64Reg, div64Imm, div64Reg, sdiv64Imm, sdiv64Reg
    case or64Imm, or64Reg, and64Imm, and64Reg, lsh64Imm, lsh64Reg, rsh64Imm, rsh64Reg, mod64Imm, mod64Reg
    case smod64Imm, smod64Reg, xor64Imm, xor64Reg, mov64Imm, mov64Reg, arsh64Imm, arsh64Reg, neg64
    // 32-bit ALU (results zero-extended)
    case add32Imm, add32Reg, sub32Imm, sub32Reg, mul32Imm, mul32Reg, div32Imm, div32Reg, sdiv32Imm, sdiv32Reg
    case or32Imm, or32Reg, and32Imm, and32Reg, lsh32Imm, lsh32Reg, rsh32Imm, rsh32Reg, mod32Imm, mod32Reg
    case smod32Imm, smod32Reg, xor32Imm, xor32Reg, mov32Imm, mov32Reg, arsh32Imm, arsh32Reg, neg32
    // sign-extending moves
    case movsx8To64, movsx16To64, movsx32To64, movsx8To32, movsx16To32
    // byte order (host is little-endian)
    case zext16, zext32, swap16, swap32, swap64, nop
    // memory
    case ldxb, ldxh, ldxw, ldxdw, ldxsb, ldxsh, ldxsw
    case stb, sth, stw, stdw, stxb, stxh, stxw, stxdw
    case atomicAdd32, atomicOr32, atomicAnd32, atomicXor32
    case atomicFetchAdd32, atomicFetchOr32, atomicFetchAnd32, atomicFetchXor32, atomicXchg32, atomicCmpxchg32
    case atomicAdd64, atomicOr64, atomicAnd64, atomicXor64
    case atomicFetchAdd64, atomicFetchOr64, atomicFetchAnd64, atomicFetchXor64, atomicXchg64, atomicCmpxchg64
    case lddw
    /// `dst = xdp_md field` (`aux` = field, see `ContextField`), from the context rewrite.
    case loadContext
    // jumps
    case ja
    case jeq64Imm, jeq64Reg, jgt64Imm, jgt64Reg, jge64Imm, jge64Reg, jset64Imm, jset64Reg, jne64Imm, jne64Reg
    case jsgt64Imm, jsgt64Reg, jsge64Imm, jsge64Reg, jlt64Imm, jlt64Reg, jle64Imm, jle64Reg
    case jslt64Imm, jslt64Reg, jsle64Imm, jsle64Reg
    case jeq32Imm, jeq32Reg, jgt32Imm, jgt32Reg, jge32Imm, jge32Reg, jset32Imm, jset32Reg, jne32Imm, jne32Reg
    case jsgt32Imm, jsgt32Reg, jsge32Imm, jsge32Reg, jlt32Imm, jlt32Reg, jle32Imm, jle32Reg
    case jslt32Imm, jslt32Reg, jsle32Imm, jsle32Reg
    // calls
    /// Helper call; `imm` is the `HelperFunction` pointer.
    case callHelper
    /// BPF-to-BPF call; `offset` is the absolute target.
    case callLocal
    /// `callx`: helper id in `dst`.
    case callRegister
    /// `bpf_tail_call`.
    case tailCall
    /// `bpf_loop`.
    case loop
    case exit
    // Superinstructions (unchecked code only; see `Superinstructions`). The slots they cover stay decoded as
    // themselves, so a jump into the middle of a fused group still runs correctly.
    /// `mov dst, src; add dst, imm`.
    case movAdd64
    /// `mov dst, src; add dst, imm; jgt dst, aux, offset` — the packet bounds check clang emits.
    case boundsCheckJgt
    /// `ldxh dst, [src+off]; be16 dst`.
    case ldxhBE16
    /// `mov dst, src; rsh dst, imm` (a field extracted into a fresh register).
    case movRsh64
    /// `mov dst, src; lsh dst, imm`.
    case movLsh64
    /// `mov dst, src; and dst, imm`.
    case movAnd64
    /// `mov dst, src; add dst, aux` (a pointer plus a variable length, e.g. `data + ihl*4`).
    case movAddReg64
    /// `call helper; jeq r0, 0, offset` (a map lookup and its NULL check); `imm` is the helper.
    case callHelperJeqZero
    /// `call helper; jne r0, 0, offset`.
    case callHelperJneZero
    /// A jump to an earlier slot (unchecked code only; see `BackEdges`): the jump's own operation is in `aux`. Taking
    /// it charges the run's instruction budget, so a long loop ends at the budget instead of running for hours.
    case backEdge
    /// The second slot of `lddw`, or an instruction the translator refused to make reachable.
    case invalid
}

/// Fields of `struct xdp_md` (the program's context), in kernel layout order (offset = 4 × raw value).
public enum ContextField: UInt8, Sendable, CaseIterable {
    case data = 0, dataEnd, dataMeta, ingressIfindex, rxQueueIndex, egressIfindex

    /// `sizeof(struct xdp_md)`.
    public static let contextSize = 24

    /// Pointer fields are rewritten to 64-bit loads of the engine's real pointers.
    public var isPointer: Bool { self == .data || self == .dataEnd || self == .dataMeta }
}
