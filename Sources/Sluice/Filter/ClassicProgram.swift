import CLibPcap
import Synchronization

/// One classic BPF (cBPF) instruction, as `struct sock_filter` / libpcap's `struct bpf_insn` lay it out.
public struct ClassicInstruction: Hashable, Sendable {
    /// Class in the low 3 bits, then size/mode or operation and source bits.
    public var code: UInt16
    /// Conditional jumps: instructions to skip when the condition holds.
    public var jt: UInt8
    /// Conditional jumps: instructions to skip when it does not.
    public var jf: UInt8
    /// Immediate, offset, scratch-memory index or jump distance.
    public var k: UInt32

    public init(code: UInt16, jt: UInt8 = 0, jf: UInt8 = 0, k: UInt32 = 0) {
        self.code = code
        self.jt = jt
        self.jf = jf
        self.k = k
    }

    /// The instruction class (`BPF_CLASS`).
    public var instructionClass: UInt16 { code & 0x07 }
}

/// The classic opcode fields (linux/filter.h, pcap/bpf.h), named.
public enum ClassicOpcode {
    public static let ld: UInt16 = 0x00, ldx: UInt16 = 0x01, st: UInt16 = 0x02, stx: UInt16 = 0x03
    public static let alu: UInt16 = 0x04, jmp: UInt16 = 0x05, ret: UInt16 = 0x06, misc: UInt16 = 0x07
    /// `BPF_SIZE`: W 0x00, H 0x08, B 0x10.
    public static let w: UInt16 = 0x00, h: UInt16 = 0x08, b: UInt16 = 0x10
    /// `BPF_MODE`.
    public static let imm: UInt16 = 0x00, abs: UInt16 = 0x20, ind: UInt16 = 0x40, mem: UInt16 = 0x60
    public static let len: UInt16 = 0x80, msh: UInt16 = 0xa0
    /// `BPF_OP` for ALU.
    public static let add: UInt16 = 0x00, sub: UInt16 = 0x10, mul: UInt16 = 0x20, div: UInt16 = 0x30
    public static let or: UInt16 = 0x40, and: UInt16 = 0x50, lsh: UInt16 = 0x60, rsh: UInt16 = 0x70
    public static let neg: UInt16 = 0x80, mod: UInt16 = 0x90, xor: UInt16 = 0xa0
    /// `BPF_OP` for JMP.
    public static let ja: UInt16 = 0x00, jeq: UInt16 = 0x10, jgt: UInt16 = 0x20, jge: UInt16 = 0x30
    public static let jset: UInt16 = 0x40
    /// `BPF_SRC`: K (immediate) or X.
    public static let k: UInt16 = 0x00, x: UInt16 = 0x08
    /// `BPF_RVAL` for RET: K or A.
    public static let retA: UInt16 = 0x10
    /// `BPF_MISCOP`.
    public static let tax: UInt16 = 0x00, txa: UInt16 = 0x80
    /// `BPF_MEMWORDS`: scratch memory words M[0…15].
    public static let memoryWords = 16
    /// `BPF_MAXINSNS`: the kernel's limit on a classic program's length.
    public static let maximumLength = 4096
    /// `SKF_AD_OFF`: absolute loads at negative offsets from here are the kernel's ancillary data (skb fields).
    public static let ancillaryOffset: Int32 = -0x1000
    /// `SKF_NET_OFF` and `SKF_LL_OFF`: offsets relative to the network and link-layer headers.
    public static let networkOffset: Int32 = -0x100000
    public static let linkLayerOffset: Int32 = -0x200000
}

/// Why an expression or a classic program cannot become a filter. The message is for users as it is.
public struct FilterError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    /// The classic instruction at fault, if any.
    public var instructionIndex: Int?
    public init(_ message: String, instructionIndex: Int? = nil) {
        self.message = message
        self.instructionIndex = instructionIndex
    }
    public var description: String {
        instructionIndex.map { "classic instruction \($0): \(message)" } ?? message
    }
}

/// A classic BPF program: compiled from a libpcap filter expression, or given instruction by instruction.
public struct ClassicProgram: Hashable, Sendable {
    public var instructions: [ClassicInstruction]

    public init(instructions: [ClassicInstruction]) { self.instructions = instructions }

    /// libpcap's compiler keeps state in globals in older releases and `bpf_image` formats into a static buffer, so
    /// calls into either are serialised.
    private static let libpcapLock = Mutex(())

    /// Compiles `expression` with libpcap's `pcap_compile` (optimised, netmask 0, as tcpdump does for a capture
    /// file) on a dead handle of
    /// `linkType` (`DLT_EN10MB` = Ethernet) and `snapshotLength`, which becomes the value of a matching `ret`.
    /// A syntax or semantic error is libpcap's message.
    public static func compile(
        _ expression: String, linkType: Int32 = DLT_EN10MB, snapshotLength: Int = 262_144, optimize: Bool = true
    ) throws(FilterError) -> ClassicProgram {
        let result: Result<ClassicProgram, FilterError> = libpcapLock.withLock { _ in
            guard let handle = pcap_open_dead(linkType, Int32(clamping: snapshotLength)) else {
                return .failure(FilterError("libpcap: pcap_open_dead(\(linkType), \(snapshotLength)) failed"))
            }
            defer { pcap_close(handle) }
            var program = sluice_pcap_classic_bpf_program()
            // Netmask 0, as tcpdump passes when reading a file (`ip broadcast` then means 255.255.255.255 or 0.0.0.0).
            guard pcap_compile(handle, &program, expression, optimize ? 1 : 0, 0) == 0 else {
                let message = String(cString: pcap_geterr(handle))
                return .failure(FilterError("bad filter expression '\(expression)': \(message)"))
            }
            defer { pcap_freecode(&program) }
            let count = Int(program.bf_len)
            var instructions: [ClassicInstruction] = []
            instructions.reserveCapacity(count)
            if let base = program.bf_insns {
                for i in 0..<count {
                    let insn = base[i]
                    instructions.append(ClassicInstruction(code: insn.code, jt: insn.jt, jf: insn.jf, k: insn.k))
                }
            }
            return .success(ClassicProgram(instructions: instructions))
        }
        return try result.get()
    }

    /// The program as `tcpdump -d` prints it (libpcap's `bpf_image`), one line per instruction.
    public var listing: [String] {
        Self.libpcapLock.withLock { _ in
            instructions.enumerated().map { index, insn in
                var raw = sluice_pcap_classic_bpf_insn(code: insn.code, jt: insn.jt, jf: insn.jf, k: insn.k)
                return bpf_image(&raw, Int32(index)).map { String(cString: $0) } ?? "(\(index)) code \(insn.code)"
            }
        }
    }

    /// What libpcap's own classic interpreter (`bpf_filter`, which tcpdump runs on every record it reads) returns
    /// for `packet`, with `len` = `wireLength` (nil: the captured length). The reference the translation is tested
    /// against; not for hot paths.
    public func libpcapResult(_ packet: UnsafeRawBufferPointer, wireLength: Int? = nil) -> UInt32 {
        let raw = instructions.map { sluice_pcap_classic_bpf_insn(code: $0.code, jt: $0.jt, jf: $0.jf, k: $0.k) }
        let empty: [UInt8] = [0]
        return raw.withUnsafeBufferPointer { code in
            empty.withUnsafeBufferPointer { fallback in
                let bytes = packet.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? fallback.baseAddress!
                return bpf_filter(
                    code.baseAddress, bytes, UInt32(clamping: wireLength ?? packet.count), UInt32(packet.count))
            }
        }
    }

    /// The program as `tcpdump -ddd` prints it: the length, then `code jt jf k` per line (decimal).
    public var decimalListing: [String] {
        ["\(instructions.count)"] + instructions.map { "\($0.code) \($0.jt) \($0.jf) \($0.k)" }
    }
}
