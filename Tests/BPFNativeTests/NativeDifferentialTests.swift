import BPFNative
import BPFVM
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Differential fuzzing: random programs the verifier accepts (ALU64/ALU32 with every operation incl. v4 sdiv/smod,
/// movsx, bswap; packet and stack loads, sign-extending loads, stores, atomics, forward branches of every
/// condition) run on random packets by the interpreter and by native code. r0, the packet bytes and the frame
/// geometry must agree bit for bit. `SLUICE_FUZZ_PROGRAMS` raises the number of programs.
@Suite struct NativeDifferentialTests {
    struct Generator {
        var rng: SplitMix
        static let scalars: [UInt8] = [0, 4, 5, 6, 7, 8, 9]

        mutating func pick<T>(_ items: [T]) -> T { items[Int(rng.next() % UInt64(items.count))] }
        mutating func below(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
        mutating func smallImmediate() -> Int32 {
            switch below(4) {
            case 0: Int32(truncatingIfNeeded: Int64(below(17)) - 8)
            case 1: pick([Int32.min, Int32.max, -1, 1, 0x7fff, -0x8000, 0xff, 0x1234_5678])
            default: Int32(truncatingIfNeeded: Int64(bitPattern: rng.next()))
            }
        }

        /// One random instruction of the body; `remaining` bounds forward jumps.
        mutating func instruction(remaining: Int) -> Instruction {
            let d = pick(Self.scalars)
            let s = pick(Self.scalars)
            switch below(10) {
            case 0, 1, 2:
                // ALU, immediate or register, 64 or 32 bits.
                let wide = below(2) == 0
                let cls: UInt8 = wide ? 0x07 : 0x04
                let op = pick([0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xa0, 0xb0, 0xc0] as [UInt8])
                let bits: Int32 = wide ? 64 : 32
                if op == 0x80 { return Instruction(opcode: cls | op, dst: d) }
                let signed: Int16 = (op == 0x30 || op == 0x90) && below(2) == 0 ? 1 : 0
                if below(2) == 0 {
                    var imm = smallImmediate()
                    if op == 0x60 || op == 0x70 || op == 0xc0 { imm = Int32(below(Int(bits))) }
                    if (op == 0x30 || op == 0x90) && imm == 0 { imm = 3 }
                    return Instruction(opcode: cls | op, dst: d, offset: signed, imm: imm)
                }
                if op == 0xb0 && below(3) == 0 {
                    // movsx
                    let from: Int16 = wide ? pick([8, 16, 32]) : pick([8, 16])
                    return Instruction(opcode: cls | 0x08 | op, dst: d, src: s, offset: from)
                }
                return Instruction(opcode: cls | 0x08 | op, dst: d, src: s, offset: signed)
            case 3:
                // Byte order: le/be (ALU32 class), bswap (ALU64 class).
                let width: Int32 = pick([16, 32, 64])
                return Instruction(opcode: pick([0xd4, 0xdc, 0xd7] as [UInt8]), dst: d, imm: width)
            case 4:
                // Packet load (plain or sign-extending) from the 64 proven bytes.
                let (opcode, size): (UInt8, Int) = pick([(0x71, 1), (0x69, 2), (0x61, 4), (0x79, 8), (0x91, 1), (0x89, 2), (0x81, 4)])
                return Instruction(opcode: opcode, dst: d, src: 2, offset: Int16(below(64 - size + 1)))
            case 5:
                // Packet store, register or immediate.
                let (opcode, size): (UInt8, Int) = pick([(0x73, 1), (0x6b, 2), (0x63, 4), (0x7b, 8), (0x72, 1), (0x62, 4)])
                let register = opcode & 0x07 == 0x03
                return Instruction(
                    opcode: opcode, dst: 2, src: register ? s : 0, offset: Int16(below(64 - size + 1)),
                    imm: register ? 0 : smallImmediate())
            case 6:
                // Stack slots -8..-64 (initialised in the prologue).
                let slot = Int16(-8 * (below(8) + 1))
                switch below(3) {
                case 0: return Instruction(opcode: pick([0x79, 0x61, 0x81, 0x69] as [UInt8]), dst: d, src: 10, offset: slot)
                case 1: return Instruction(opcode: pick([0x7b, 0x63, 0x73] as [UInt8]), dst: 10, src: s, offset: slot)
                default: return Instruction(opcode: 0x7a, dst: 10, offset: slot, imm: smallImmediate())
                }
            case 7:
                // Atomics on the stack (aligned slots).
                let slot = Int16(-8 * (below(8) + 1))
                let wide = below(2) == 0
                let op: Int32 = pick([0x00, 0x40, 0x50, 0xa0, 0x01, 0x41, 0x51, 0xa1, 0xe1, 0xf1])
                return Instruction(opcode: wide ? 0xdb : 0xc3, dst: 10, src: s, offset: slot, imm: op)
            default:
                // Forward branch inside the body.
                guard remaining > 1 else { return Instruction(opcode: 0xb7, dst: d, imm: smallImmediate()) }
                let cls: UInt8 = below(2) == 0 ? 0x05 : 0x06
                let op = pick([0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0] as [UInt8])
                let distance = Int16(below(min(remaining - 1, 6)))
                if below(2) == 0 {
                    return Instruction(opcode: cls | op, dst: d, offset: distance, imm: smallImmediate())
                }
                return Instruction(opcode: cls | 0x08 | op, dst: d, src: s, offset: distance)
            }
        }

        mutating func program(length: Int) -> [Instruction] {
            var p: [Instruction] = [
                Instruction(opcode: 0x61, dst: 2, src: 1, offset: 0),  // r2 = data
                Instruction(opcode: 0x61, dst: 3, src: 1, offset: 4),  // r3 = data_end
                Instruction(opcode: 0xbf, dst: 4, src: 2),
                Instruction(opcode: 0x07, dst: 4, imm: 64),
            ]
            let boundsCheck = p.count
            p.append(Instruction(opcode: 0x2d, dst: 4, src: 3))  // jgt r4, r3, out (patched below)
            for r in Self.scalars { p.append(Instruction(opcode: 0xb7, dst: r, imm: smallImmediate())) }
            for k in 1...8 { p.append(Instruction(opcode: 0x7a, dst: 10, offset: Int16(-8 * k), imm: smallImmediate())) }
            for i in 0..<length { p.append(instruction(remaining: length - i)) }
            // Fold every scalar register into r0 so any difference shows.
            for r in Self.scalars.dropFirst() { p.append(Instruction(opcode: 0xaf, dst: 0, src: r)) }
            p.append(Instruction(opcode: 0x95))
            p[boundsCheck].offset = Int16(p.count - boundsCheck - 1)
            p.append(Instruction(opcode: 0xb7, dst: 0, imm: 2))
            p.append(Instruction(opcode: 0x95))
            return p
        }
    }

    @Test func nativeAgreesWithTheInterpreterOnRandomPrograms() throws {
        try #require(NativeCompiler.isAvailable, "LLVM 19 is required: \(NativeCompiler.unavailableReason ?? "")")
        let programs = getenv("SLUICE_FUZZ_PROGRAMS").flatMap { Int(String(cString: $0)) } ?? 150
        var generator = Generator(rng: SplitMix(seed: 0x5eed_0013))
        var accepted = 0
        var compared = 0
        let frameSize = XDPFrameGeometry.frameSize
        let a = UnsafeMutableRawPointer.allocate(byteCount: frameSize, alignment: 64)
        let b = UnsafeMutableRawPointer.allocate(byteCount: frameSize, alignment: 64)
        defer {
            a.deallocate()
            b.deallocate()
        }
        let fault = UnsafeMutablePointer<NativeFault>.allocate(capacity: 1)
        fault.initialize(to: NativeFault())
        defer { fault.deallocate() }
        for n in 0..<programs {
            let spec = ProgramSpec(name: "fuzz\(n)", instructions: generator.program(length: 10 + generator.below(40)))
            let verified: VerifiedProgram
            do { verified = try Verifier().verify(spec) } catch {
                if getenv("SLUICE_FUZZ_DEBUG") != nil { print("REJECT \(error)") }
                continue
            }
            accepted += 1
            let loaded = try LoadedProgram(verified: verified)
            let unchecked = try #require(loaded.uncheckedEntry)
            let native = try NativeCompiler.code(for: loaded.executable)
            let machine = Machine()
            loaded.bind(to: machine)
            for _ in 0..<8 {
                let length = 14 + generator.below(200)
                let frameEnd = frameSize - XDPFrameGeometry.tailroom
                for i in 0..<frameSize {
                    let byte = UInt8(truncatingIfNeeded: generator.rng.next())
                    a.storeBytes(of: byte, toByteOffset: i, as: UInt8.self)
                    b.storeBytes(of: byte, toByteOffset: i, as: UInt8.self)
                }
                let expected = machine.runXDP(
                    unchecked, buffer: a, dataOffset: XDPFrameGeometry.headroom, length: length, metaLength: 0,
                    frameEnd: frameEnd)
                let actual = machine.runXDPNative(
                    native.entry, buffer: b, dataOffset: XDPFrameGeometry.headroom, length: length, metaLength: 0,
                    frameEnd: frameEnd, fault: fault)
                let sameBytes = memcmp(a, b, frameSize) == 0
                #expect(
                    expected.returnValue == actual.returnValue && sameBytes && expected.fault == nil
                        && actual.fault == nil && expected.length == actual.length,
                    """
                    program \(n), packet of \(length) bytes: interpreter r0 0x\(String(expected.returnValue, radix: 16)), \
                    native r0 0x\(String(actual.returnValue, radix: 16)), packet bytes \(sameBytes ? "agree" : "differ")
                    \(loaded.executable.instructions.enumerated().map { "\($0.offset): \(Disassembler.text(of: $0.element, next: nil))" }.joined(separator: "\n"))
                    """)
                compared += 1
                if expected.returnValue != actual.returnValue || !sameBytes { return }
            }
        }
        // The generator must produce mostly verifiable programs, or the test compares nothing.
        #expect(accepted * 2 >= programs, "only \(accepted) of \(programs) random programs were verified")
        #expect(compared == accepted * 8)
    }
}


typealias SplitMix = SplitMix64
