import Testing

@testable import BPFVM

/// The verifier's scalar domain (tnum, 64-bit and 32-bit ranges) checked against concrete values: random walks of
/// ALU operations and branches run on a concrete value and on its abstraction side by side, each branch taking the
/// direction the concrete value takes, and after every step the abstraction must still contain the value. A domain
/// that claims a bound the value breaks (the kind of bug that lets a verified program read out of bounds) fails
/// here with the walk that shows it.
@Suite("Verifier scalar domain soundness")
struct ScalarDomainSoundnessTests {
    /// One concrete value and what the verifier knows about it.
    struct Tracked {
        var value: UInt64
        var abstract: Scalar
    }

    static func holds(_ s: Scalar, _ v: UInt64) -> Bool {
        let low = UInt32(truncatingIfNeeded: v)
        return s.umin <= v && v <= s.umax && s.smin <= Int64(bitPattern: v) && Int64(bitPattern: v) <= s.smax
            && s.u32min <= low && low <= s.u32max && s.s32min <= Int32(bitPattern: low)
            && Int32(bitPattern: low) <= s.s32max && v & ~s.tnum.mask == s.tnum.value
    }

    static func branchHolds(_ c: BranchCondition, _ a: UInt64, _ b: UInt64, width: OperandWidth) -> Bool {
        let (ua, ub, sa, sb): (UInt64, UInt64, Int64, Int64) =
            width == .bits64
            ? (a, b, Int64(bitPattern: a), Int64(bitPattern: b))
            : (
                a & 0xffff_ffff, b & 0xffff_ffff, Int64(Int32(truncatingIfNeeded: a)),
                Int64(Int32(truncatingIfNeeded: b))
            )
        switch c {
        case .eq: return ua == ub
        case .ne: return ua != ub
        case .ugt: return ua > ub
        case .uge: return ua >= ub
        case .ult: return ua < ub
        case .ule: return ua <= ub
        case .sgt: return sa > sb
        case .sge: return sa >= sb
        case .slt: return sa < sb
        case .sle: return sa <= sb
        case .set: return ua & ub != 0
        case .notSet: return ua & ub == 0
        }
    }

    /// Values around the edges where bounds arithmetic goes wrong: small, near 2^31, 2^32 and 2^63, negative.
    static func interesting(_ rng: inout SplitMix64) -> UInt64 {
        let edges: [UInt64] = [
            0, 1, 2, 7, 31, 32, 255, 256, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0x1_0000_0000, 0x1_0000_0005,
            0x7fff_ffff_ffff_ffff, 0x8000_0000_0000_0000, .max, .max - 4, 0xffff_ffff_0000_0000, 0xffff_ffff_8000_0000,
        ]
        switch rng.below(4) {
        case 0: return edges[rng.below(edges.count)] &+ UInt64(bitPattern: Int64(rng.below(9) - 4))
        case 1: return rng.next() & ((1 << UInt64(rng.below(64) + 1)) &- 1)
        case 2: return (rng.next() << 32) | UInt64(rng.below(64))
        default: return rng.next()
        }
    }

    /// A fresh tracked value: unknown, constant, or bounded by a branch or two.
    static func fresh(_ rng: inout SplitMix64) -> Tracked {
        let v = interesting(&rng)
        var t = Tracked(value: v, abstract: rng.below(5) == 0 ? .constant(v) : .unknown)
        for _ in 0..<rng.below(3) { _ = branch(&t, &rng) }
        return t
    }

    static let kinds: [ALUKind] = ALUKind.allCases
    static let conditions: [BranchCondition] = [
        .eq, .ne, .ugt, .uge, .ult, .ule, .sgt, .sge, .slt, .sle, .set, .notSet,
    ]

    /// A branch against a constant or another tracked value, in the direction the concrete values take. Returns
    /// a description of the step, or nil when the domain called the taken direction impossible.
    static func branch(_ t: inout Tracked, _ rng: inout SplitMix64) -> String? {
        let width: OperandWidth = rng.below(2) == 0 ? .bits32 : .bits64
        let c = conditions[rng.below(conditions.count)]
        var other =
            rng.below(2) == 0
            ? Tracked(value: interesting(&rng), abstract: .unknown)
            : Tracked(value: t.value &+ UInt64(bitPattern: Int64(rng.below(5) - 2)), abstract: .unknown)
        if rng.below(2) == 0 { other.abstract = .constant(other.value) }
        let taken = branchHolds(c, t.value, other.value, width: width)
        let cond = taken ? c : c.negated
        let refine = width == .bits64 ? Scalar.refine : Scalar.refine32
        guard let (a, b) = refine(cond, t.abstract, other.abstract) else { return nil }
        t.abstract = a
        guard holds(b, other.value) else { return nil }
        return "if\(width == .bits32 ? "32" : "") \(cond) \(other.value)"
    }

    static func step(_ t: inout Tracked, _ rng: inout SplitMix64) -> String? {
        switch rng.below(10) {
        case 0, 1, 2:
            return branch(&t, &rng)
        case 3:
            let width: OperandWidth = rng.below(2) == 0 ? .bits32 : .bits64
            t.abstract = Scalar.negate(t.abstract, width: width)
            t.value = ConcreteALU.evaluate(.sub, 0, t.value, width: width)
            return "neg\(width.rawValue)"
        case 4:
            let bits = [8, 16, 32][rng.below(3)]
            let width: OperandWidth = rng.below(2) == 0 ? .bits32 : .bits64
            t.abstract = Scalar.signExtend(t.abstract, from: bits, width: width)
            let shift = UInt64(64 - bits)
            let extended = UInt64(bitPattern: Int64(bitPattern: t.value << shift) >> Int64(shift))
            t.value = width == .bits32 ? extended & 0xffff_ffff : extended
            return "movsx\(width.rawValue) from \(bits)"
        default:
            let kind = kinds[rng.below(kinds.count)]
            let width: OperandWidth = rng.below(2) == 0 ? .bits32 : .bits64
            var operand: Tracked
            if rng.below(2) == 0 {
                var k = interesting(&rng)
                if [.lsh, .rsh, .arsh].contains(kind) { k = UInt64(rng.below(width == .bits64 ? 64 : 32)) }
                if rng.below(4) == 0 { k = 32 }
                if width == .bits32 { k &= 0xffff_ffff }
                operand = Tracked(value: k, abstract: .constant(k))
            } else {
                operand = fresh(&rng)
            }
            t.abstract = Scalar.alu(kind, t.abstract, operand.abstract, width: width)
            t.value = ConcreteALU.evaluate(kind, t.value, operand.value, width: width)
            return "\(kind)\(width.rawValue) \(operand.value)"
        }
    }

    @Test("random walks of ALU operations and branches keep every concrete value inside its abstraction")
    func walksStayInside() {
        var rng = SplitMix64(seed: 20_261_204)
        var failures: [String] = []
        for walk in 0..<60_000 where failures.count < 3 {
            var t = Self.fresh(&rng)
            var trail = ["start \(t.value)"]
            guard Self.holds(t.abstract, t.value) else {
                failures.append("walk \(walk): the start already excludes \(t.value): \(t.abstract)")
                continue
            }
            for _ in 0..<12 {
                let before = t.abstract
                guard let what = Self.step(&t, &rng) else {
                    failures.append(
                        "walk \(walk): a branch the value takes was called impossible after "
                            + trail.joined(separator: "; ") + " (state \(before))")
                    break
                }
                trail.append(what)
                if !Self.holds(t.abstract, t.value) {
                    failures.append(
                        "walk \(walk): \(t.value) escaped after " + trail.joined(separator: "; ")
                            + ": \(t.abstract) (u32 \(t.abstract.u32min)…\(t.abstract.u32max), s32 "
                            + "\(t.abstract.s32min)…\(t.abstract.s32max)); before the step: \(before)")
                    break
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }

    @Test("the compiler's extension idioms carry a 32-bit bound back to 64 bits, as the kernel's verifier does")
    func extensionIdioms() throws {
        let unknown = Scalar.unknown
        // if w2 > 31 goto out: the fall-through knows the low half is at most 31.
        let (bounded, _) = try #require(Scalar.refine32(.ule, unknown, .constant(31)))
        #expect(bounded.u32max == 31 && bounded.umax > 0xffff_ffff, "only the subregister is bounded: \(bounded)")
        // w2 = w2
        #expect(Scalar.alu(.mov, .unknown, bounded, width: .bits32).umax == 31)
        // r2 <<= 32; r2 >>= 32
        let up = Scalar.alu(.lsh, bounded, .constant(32), width: .bits64)
        #expect(Scalar.alu(.rsh, up, .constant(32), width: .bits64).umax == 31)
        // if w2 s< -4 || w2 s> 8: then r2 <<= 32; r2 s>>= 32 gives -4…8
        let (low, _) = try #require(Scalar.refine32(.sge, unknown, .constant(UInt64(UInt32(bitPattern: -4)))))
        let (signed, _) = try #require(Scalar.refine32(.sle, low, .constant(8)))
        let extended = Scalar.alu(.arsh, Scalar.alu(.lsh, signed, .constant(32), width: .bits64), .constant(32), width: .bits64)
        #expect(extended.smin == -4 && extended.smax == 8, "\(extended)")
        // ... while zero-extending it leaves it unbounded above (the low half may be 0xfffffffc).
        #expect(Scalar.alu(.mov, .unknown, signed, width: .bits32).umax == 0xffff_ffff)
    }
}
