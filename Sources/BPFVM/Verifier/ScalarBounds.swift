/// A tristate number (the kernel's `tnum`): for each bit, known 0, known 1, or unknown (`mask` bit set).
struct Tnum: Hashable, Sendable {
    var value: UInt64
    var mask: UInt64

    static let unknown = Tnum(value: 0, mask: .max)
    static func constant(_ v: UInt64) -> Tnum { Tnum(value: v, mask: 0) }

    /// The smallest tnum containing every value in `min...max`.
    static func range(_ min: UInt64, _ max: UInt64) -> Tnum {
        let chi = min ^ max
        let bits = 64 - chi.leadingZeroBitCount
        if bits >= 64 { return .unknown }
        let delta: UInt64 = (1 << UInt64(bits)) &- 1
        return Tnum(value: min & ~delta, mask: delta)
    }

    var isConstant: Bool { mask == 0 }
    var maxValue: UInt64 { value | mask }

    static func + (a: Tnum, b: Tnum) -> Tnum {
        let sm = a.mask &+ b.mask
        let sv = a.value &+ b.value
        let sigma = sm &+ sv
        let chi = sigma ^ sv
        let mu = chi | a.mask | b.mask
        return Tnum(value: sv & ~mu, mask: mu)
    }

    static func - (a: Tnum, b: Tnum) -> Tnum {
        let dv = a.value &- b.value
        let alpha = dv &+ a.mask
        let beta = dv &- b.mask
        let chi = alpha ^ beta
        let mu = chi | a.mask | b.mask
        return Tnum(value: dv & ~mu, mask: mu)
    }

    static func & (a: Tnum, b: Tnum) -> Tnum {
        let alpha = a.value | a.mask
        let beta = b.value | b.mask
        let v = a.value & b.value
        return Tnum(value: v, mask: alpha & beta & ~v)
    }

    static func | (a: Tnum, b: Tnum) -> Tnum {
        let v = a.value | b.value
        return Tnum(value: v, mask: (a.mask | b.mask) & ~v)
    }

    static func ^ (a: Tnum, b: Tnum) -> Tnum {
        let mu = a.mask | b.mask
        return Tnum(value: (a.value ^ b.value) & ~mu, mask: mu)
    }

    func shiftedLeft(_ k: UInt64) -> Tnum { Tnum(value: value << k, mask: mask << k) }
    func shiftedRight(_ k: UInt64) -> Tnum { Tnum(value: value >> k, mask: mask >> k) }
    func arithmeticShiftedRight(_ k: UInt64) -> Tnum {
        Tnum(
            value: UInt64(bitPattern: Int64(bitPattern: value) >> Int64(k)),
            mask: UInt64(bitPattern: Int64(bitPattern: mask) >> Int64(k)))
    }

    /// Values in both, or nil when no value is.
    func intersection(_ b: Tnum) -> Tnum? {
        if (value ^ b.value) & ~(mask | b.mask) != 0 { return nil }
        let v = value | b.value
        let mu = mask & b.mask
        return Tnum(value: v & ~mu, mask: mu)
    }

    /// Whether every value of `b` is a value of `self`.
    func contains(_ b: Tnum) -> Bool {
        if b.mask & ~mask != 0 { return false }
        return b.value & ~mask == value
    }

    /// The low 32 bits, zero-extended.
    var low32: Tnum { Tnum(value: value & 0xffff_ffff, mask: mask & 0xffff_ffff) }
}

/// What the verifier knows about a 64-bit scalar: its bits (`tnum`), unsigned and signed 64-bit ranges, and the
/// unsigned and signed ranges of its low 32 bits (the `w` subregister), kept consistent with one another as the
/// kernel keeps `bpf_reg_state`'s `umin/umax/smin/smax` and `u32_min/u32_max/s32_min/s32_max`. The 32-bit ranges
/// are their own facts: after `if w1 < 10` on a register whose upper half is unknown, only they know the bound,
/// and a zero- or sign-extension (`w1 = w1`, `r1 <<= 32; r1 s>>= 32`) carries it back to 64 bits.
struct Scalar: Hashable, Sendable {
    var tnum: Tnum
    var umin: UInt64
    var umax: UInt64
    var smin: Int64
    var smax: Int64
    var u32min: UInt32 = 0
    var u32max: UInt32 = .max
    var s32min: Int32 = .min
    var s32max: Int32 = .max

    static let unknown = Scalar(tnum: .unknown, umin: 0, umax: .max, smin: .min, smax: .max)
    static func constant(_ v: UInt64) -> Scalar {
        let low = UInt32(truncatingIfNeeded: v)
        return Scalar(
            tnum: .constant(v), umin: v, umax: v, smin: Int64(bitPattern: v), smax: Int64(bitPattern: v),
            u32min: low, u32max: low, s32min: Int32(bitPattern: low), s32max: Int32(bitPattern: low))
    }
    /// An unsigned value of `0...max`.
    static func unsigned(upTo max: UInt64) -> Scalar {
        Scalar(tnum: .range(0, max), umin: 0, umax: max, smin: 0, smax: max > UInt64(Int64.max) ? .max : Int64(max))
            .normalized() ?? .unknown
    }
    static func signedRange(_ lo: Int64, _ hi: Int64) -> Scalar {
        var s = Scalar.unknown
        s.smin = lo
        s.smax = hi
        return s.normalized() ?? .unknown
    }

    var isConstant: Bool { tnum.isConstant }
    var constantValue: UInt64? { tnum.isConstant ? tnum.value : nil }

    /// Tightens every bound from the others; nil when they contradict (no value satisfies them all).
    func normalized() -> Scalar? {
        var s = self
        for _ in 0..<2 {
            guard s.deduce32() else { return nil }
            s.umin = Swift.max(s.umin, s.tnum.value)
            s.umax = Swift.min(s.umax, s.tnum.maxValue)
            let sign: UInt64 = 1 << 63
            if s.tnum.mask & sign == 0 {
                s.smin = Swift.max(s.smin, Int64(bitPattern: s.tnum.value))
                s.smax = Swift.min(s.smax, Int64(bitPattern: s.tnum.maxValue))
            } else {
                s.smin = Swift.max(s.smin, Int64(bitPattern: s.tnum.value | sign))
                s.smax = Swift.min(s.smax, Int64(bitPattern: s.tnum.maxValue & ~sign))
            }
            if s.umin > s.umax || s.smin > s.smax { return nil }
            if s.umin >> 63 == s.umax >> 63 {
                s.smin = Swift.max(s.smin, Int64(bitPattern: s.umin))
                s.smax = Swift.min(s.smax, Int64(bitPattern: s.umax))
            }
            if s.smin >= 0 || s.smax < 0 {
                s.umin = Swift.max(s.umin, UInt64(bitPattern: s.smin))
                s.umax = Swift.min(s.umax, UInt64(bitPattern: s.smax))
            }
            if s.umin > s.umax || s.smin > s.smax { return nil }
            guard let t = s.tnum.intersection(.range(s.umin, s.umax)) else { return nil }
            s.tnum = t
            if s.smin >= 0 || s.smax < 0 {
                guard let t2 = s.tnum.intersection(.range(UInt64(bitPattern: s.smin), UInt64(bitPattern: s.smax)))
                else { return nil }
                s.tnum = t2
            }
        }
        if s.umin > s.umax || s.smin > s.smax { return nil }
        return s
    }

    /// One round of the 32-bit deductions: the subregister ranges from the bits, from the 64-bit ranges and from
    /// each other, then back into the 64-bit ranges and the bits where the upper half is fixed. False when they
    /// contradict.
    private mutating func deduce32() -> Bool {
        func narrowU32(_ lo: UInt32, _ hi: UInt32) {
            u32min = Swift.max(u32min, lo)
            u32max = Swift.min(u32max, hi)
        }
        func narrowS32(_ lo: Int32, _ hi: Int32) {
            s32min = Swift.max(s32min, lo)
            s32max = Swift.min(s32max, hi)
        }
        // From the bits.
        let low = tnum.low32
        narrowU32(UInt32(low.value), UInt32(low.maxValue))
        if low.mask & 0x8000_0000 == 0 {
            narrowS32(Int32(bitPattern: UInt32(low.value)), Int32(bitPattern: UInt32(low.maxValue)))
        } else {
            narrowS32(
                Int32(bitPattern: UInt32(low.value) | 0x8000_0000),
                Int32(bitPattern: UInt32(low.maxValue) & 0x7fff_ffff))
        }
        // From a 64-bit range: within one upper half the low halves are ordered as the values are; across two
        // consecutive upper halves, a range from a negative to a non-negative low half is a signed 32-bit range.
        for (lo, hi) in [(umin, umax), (UInt64(bitPattern: smin), UInt64(bitPattern: smax))] {
            let (a, b) = (UInt32(truncatingIfNeeded: lo), UInt32(truncatingIfNeeded: hi))
            if lo >> 32 == hi >> 32 {
                narrowU32(a, b)
                if Int32(bitPattern: a) <= Int32(bitPattern: b) { narrowS32(Int32(bitPattern: a), Int32(bitPattern: b)) }
            } else if UInt32(truncatingIfNeeded: lo >> 32) &+ 1 == UInt32(truncatingIfNeeded: hi >> 32),
                Int32(bitPattern: a) < 0, Int32(bitPattern: b) >= 0
            {
                narrowS32(Int32(bitPattern: a), Int32(bitPattern: b))
            }
        }
        // Unsigned and signed 32-bit ranges from each other.
        if u32min >> 31 == u32max >> 31 { narrowS32(Int32(bitPattern: u32min), Int32(bitPattern: u32max)) }
        if s32min >= 0 || s32max < 0 { narrowU32(UInt32(bitPattern: s32min), UInt32(bitPattern: s32max)) }
        if u32min > u32max || s32min > s32max { return false }
        // Back into 64 bits where the upper half is fixed.
        if umin >> 32 == umax >> 32 {
            let upper = umin & 0xffff_ffff_0000_0000
            umin = Swift.max(umin, upper | UInt64(u32min))
            umax = Swift.min(umax, upper | UInt64(u32max))
        }
        if smin >> 32 == smax >> 32 {
            let upper = UInt64(bitPattern: smin) & 0xffff_ffff_0000_0000
            smin = Swift.max(smin, Int64(bitPattern: upper | UInt64(u32min)))
            smax = Swift.min(smax, Int64(bitPattern: upper | UInt64(u32max)))
        }
        if umin > umax || smin > smax { return false }
        // And into the low bits.
        let range = Tnum.range(UInt64(u32min), UInt64(u32max))
        guard let t = tnum.intersection(Tnum(value: range.value, mask: range.mask | 0xffff_ffff_0000_0000)) else {
            return false
        }
        tnum = t
        return true
    }

    /// Whether every value `b` may have is a value `self` may have.
    func contains(_ b: Scalar) -> Bool {
        umin <= b.umin && b.umax <= umax && smin <= b.smin && b.smax <= smax && tnum.contains(b.tnum)
            && u32min <= b.u32min && b.u32max <= u32max && s32min <= b.s32min && b.s32max <= s32max
    }

    /// The low 32 bits, zero-extended (what a 32-bit ALU result or `w` register holds).
    var low32: Scalar {
        if umax <= 0xffff_ffff { return self }
        let r = Scalar(
            tnum: tnum.low32, umin: UInt64(u32min), umax: UInt64(u32max), smin: Int64(u32min), smax: Int64(u32max),
            u32min: u32min, u32max: u32max, s32min: s32min, s32max: s32max)
        return r.normalized() ?? Scalar.unsigned(upTo: 0xffff_ffff)
    }

    /// The low 32 bits, sign-extended to 64 (the operand of signed 32-bit operations).
    var signedLow32: Scalar {
        if u32max <= 0x7fff_ffff { return low32 }
        var r = Scalar.unknown
        r.smin = Int64(s32min)
        r.smax = Int64(s32max)
        (r.u32min, r.u32max, r.s32min, r.s32max) = (u32min, u32max, s32min, s32max)
        let low = tnum.low32
        if low.mask & 0x8000_0000 == 0 {
            r.tnum = low.value & 0x8000_0000 == 0 ? low : Tnum(value: low.value | 0xffff_ffff_0000_0000, mask: low.mask)
        } else {
            r.tnum = Tnum(value: low.value, mask: low.mask | 0xffff_ffff_0000_0000)
        }
        return r.normalized() ?? Scalar.signedRange(Int64(Int32.min), Int64(Int32.max))
    }

    /// A readable rendering: `17`, or `umin=…, umax=…, smin=…, smax=…, bits=(value; mask)` with only the
    /// informative parts.
    var description: String {
        if let v = constantValue { return Int64(bitPattern: v) < 0 ? "\(Int64(bitPattern: v))" : "\(v)" }
        var parts: [String] = []
        if umin != 0 { parts.append("umin=\(umin)") }
        if umax != .max { parts.append("umax=\(umax)") }
        if smin != .min && !(smin == 0 && umax <= UInt64(Int64.max)) { parts.append("smin=\(smin)") }
        if smax != .max && UInt64(bitPattern: smax) != umax { parts.append("smax=\(smax)") }
        if umax > 0xffff_ffff {
            // The subregister's ranges, where the 64-bit ones do not already say them (as the kernel's umax32=…).
            if u32min != 0 { parts.append("u32min=\(u32min)") }
            if u32max != .max { parts.append("u32max=\(u32max)") }
            if s32min != .min && !(s32min == 0 && u32max <= UInt32(Int32.max)) { parts.append("s32min=\(s32min)") }
            if s32max != .max && UInt32(bitPattern: s32max) != u32max { parts.append("s32max=\(s32max)") }
        }
        if tnum.mask != .max && !(tnum == .range(umin, umax)) {
            parts.append("bits=(0x\(String(tnum.value, radix: 16)); 0x\(String(tnum.mask, radix: 16)))")
        }
        return parts.isEmpty ? "unknown" : parts.joined(separator: ", ")
    }
}

// MARK: - Arithmetic

extension Scalar {
    /// The result of `a op b` on every pair of values (64-bit operation; the caller projects 32-bit ones).
    static func alu(_ kind: ALUKind, _ a: Scalar, _ b: Scalar, width: OperandWidth) -> Scalar {
        if let x = a.constantValue, let y = b.constantValue {
            return .constant(ConcreteALU.evaluate(kind, x, y, width: width))
        }
        if width == .bits32 {
            switch kind {
            case .arsh:
                guard let k = b.constantValue else { return .unsigned(upTo: 0xffff_ffff) }
                return alu64(.arsh, a.signedLow32, .constant(k & 31)).low32
            case .sdiv, .smod:
                return .unsigned(upTo: 0xffff_ffff)
            case .lsh, .rsh:
                guard let k = b.constantValue else {
                    return kind == .rsh ? .unsigned(upTo: a.low32.umax) : .unsigned(upTo: 0xffff_ffff)
                }
                return alu64(kind, a.low32, .constant(k & 31)).low32
            case .mov:
                return b.low32
            default:
                return alu64(kind, a.low32, b.low32).low32
            }
        }
        return alu64(kind, a, b)
    }

    private static func alu64(_ kind: ALUKind, _ a: Scalar, _ b: Scalar) -> Scalar {
        if let x = a.constantValue, let y = b.constantValue {
            return .constant(ConcreteALU.evaluate(kind, x, y, width: .bits64))
        }
        var r = Scalar.unknown
        switch kind {
        case .mov:
            return b
        case .add:
            r.tnum = a.tnum + b.tnum
            let (lo, o1) = a.umin.addingReportingOverflow(b.umin)
            let (hi, o2) = a.umax.addingReportingOverflow(b.umax)
            if !o1 && !o2 {
                r.umin = lo
                r.umax = hi
            }
            let (slo, o3) = a.smin.addingReportingOverflow(b.smin)
            let (shi, o4) = a.smax.addingReportingOverflow(b.smax)
            if !o3 && !o4 {
                r.smin = slo
                r.smax = shi
            }
            // The low half of a sum is the sum of the low halves (modulo 2^32).
            let (lo32, o5) = a.u32min.addingReportingOverflow(b.u32min)
            let (hi32, o6) = a.u32max.addingReportingOverflow(b.u32max)
            if !o5 && !o6 { (r.u32min, r.u32max) = (lo32, hi32) }
            let (slo32, o7) = a.s32min.addingReportingOverflow(b.s32min)
            let (shi32, o8) = a.s32max.addingReportingOverflow(b.s32max)
            if !o7 && !o8 { (r.s32min, r.s32max) = (slo32, shi32) }
        case .sub:
            r.tnum = a.tnum - b.tnum
            if a.umin >= b.umax {
                r.umin = a.umin - b.umax
                r.umax = a.umax - b.umin
            }
            let (slo, o1) = a.smin.subtractingReportingOverflow(b.smax)
            let (shi, o2) = a.smax.subtractingReportingOverflow(b.smin)
            if !o1 && !o2 {
                r.smin = slo
                r.smax = shi
            }
            if a.u32min >= b.u32max { (r.u32min, r.u32max) = (a.u32min - b.u32max, a.u32max - b.u32min) }
            let (slo32, o3) = a.s32min.subtractingReportingOverflow(b.s32max)
            let (shi32, o4) = a.s32max.subtractingReportingOverflow(b.s32min)
            if !o3 && !o4 { (r.s32min, r.s32max) = (slo32, shi32) }
        case .mul:
            if a.umax <= 0xffff_ffff && b.umax <= 0xffff_ffff {
                r.umin = a.umin * b.umin
                r.umax = a.umax * b.umax
            }
            if a.u32max <= 0xffff && b.u32max <= 0xffff { (r.u32min, r.u32max) = (a.u32min * b.u32min, a.u32max * b.u32max) }
        case .div:
            if let y = b.constantValue {
                if y == 0 { return .constant(0) }
                r.umin = a.umin / y
                r.umax = a.umax / y
            } else {
                r.umax = a.umax
            }
        case .mod:
            if b.umin > 0 {
                r.umax = Swift.min(a.umax, b.umax - 1)
            } else {
                r.umax = Swift.max(a.umax, 0)
            }
        case .sdiv, .smod:
            break
        case .and:
            r.tnum = a.tnum & b.tnum
            r.umax = Swift.min(a.umax, b.umax)
            r.u32max = Swift.min(a.u32max, b.u32max)
        case .or:
            r.tnum = a.tnum | b.tnum
            r.umin = Swift.max(a.umin, b.umin)
            r.u32min = Swift.max(a.u32min, b.u32min)
        case .xor:
            r.tnum = a.tnum ^ b.tnum
        case .lsh:
            guard let k = b.constantValue.map({ $0 & 63 }) else { break }
            r.tnum = a.tnum.shiftedLeft(k)
            if UInt64(a.umax.leadingZeroBitCount) >= k {
                r.umin = a.umin << k
                r.umax = a.umax << k
            }
            if k == 32 {
                // The low half moves up whole: its ranges are the result's, shifted (the compiler's `<<= 32` before
                // `>>= 32` or `s>>= 32`, which zero- or sign-extends the subregister).
                r.umin = Swift.max(r.umin, UInt64(a.u32min) << 32)
                r.umax = Swift.min(r.umax, UInt64(a.u32max) << 32)
                r.smin = Swift.max(r.smin, Int64(a.s32min) << 32)
                r.smax = Swift.min(r.smax, Int64(a.s32max) << 32)
            } else if k < 32 && UInt64(a.u32max.leadingZeroBitCount) >= k {
                (r.u32min, r.u32max) = (a.u32min << UInt32(k), a.u32max << UInt32(k))
            }
        case .rsh:
            guard let k = b.constantValue.map({ $0 & 63 }) else {
                r.umax = a.umax
                break
            }
            r.tnum = a.tnum.shiftedRight(k)
            r.umin = a.umin >> k
            r.umax = a.umax >> k
        case .arsh:
            guard let k = b.constantValue.map({ $0 & 63 }) else { break }
            r.tnum = a.tnum.arithmeticShiftedRight(k)
            r.smin = a.smin >> Int64(k)
            r.smax = a.smax >> Int64(k)
        }
        return r.normalized() ?? .unknown
    }

    static func negate(_ a: Scalar, width: OperandWidth) -> Scalar {
        if width == .bits32 { return alu(.sub, .constant(0), a.low32, width: .bits32) }
        if let v = a.constantValue { return .constant(0 &- v) }
        if a.smin != .min { return .signedRange(-a.smax, -a.smin) }
        return .unknown
    }

    /// `movsx`: the low `bits` sign-extended, then truncated to `width`.
    static func signExtend(_ a: Scalar, from bits: Int, width: OperandWidth) -> Scalar {
        let result: Scalar
        if let v = a.constantValue {
            let shift = UInt64(64 - bits)
            result = .constant(UInt64(bitPattern: Int64(bitPattern: v << shift) >> Int64(shift)))
        } else {
            let positiveMax: UInt64 = (1 << UInt64(bits - 1)) - 1
            if a.umax <= positiveMax {
                result = a
            } else {
                result = .signedRange(-(Int64(1) << Int64(bits - 1)), Int64(positiveMax))
            }
        }
        return width == .bits32 ? result.low32 : result
    }

    static func byteSwap(_ a: Scalar, _ conversion: ByteOrderConversion, bits: Int) -> Scalar {
        if let v = a.constantValue {
            switch (conversion, bits) {
            case (.toLittleEndian, 16): return .constant(v & 0xffff)
            case (.toLittleEndian, 32): return .constant(v & 0xffff_ffff)
            case (.toLittleEndian, _): return a
            case (_, 16): return .constant(UInt64(UInt16(truncatingIfNeeded: v).byteSwapped))
            case (_, 32): return .constant(UInt64(UInt32(truncatingIfNeeded: v).byteSwapped))
            default: return .constant(v.byteSwapped)
            }
        }
        switch (conversion, bits) {
        case (.toLittleEndian, 64): return a
        case (.toLittleEndian, _):
            let limit: UInt64 = bits == 16 ? 0xffff : 0xffff_ffff
            if a.umax <= limit { return a }
            return Scalar(tnum: a.tnum & .constant(limit), umin: 0, umax: limit, smin: 0, smax: Int64(limit))
                .normalized() ?? .unsigned(upTo: limit)
        case (_, 16): return .unsigned(upTo: 0xffff)
        case (_, 32): return .unsigned(upTo: 0xffff_ffff)
        default: return .unknown
        }
    }
}

/// The interpreter's exact ALU semantics, for constant folding.
enum ConcreteALU {
    static func evaluate(_ kind: ALUKind, _ a: UInt64, _ b: UInt64, width: OperandWidth) -> UInt64 {
        if width == .bits32 {
            let x = UInt32(truncatingIfNeeded: a)
            let y = UInt32(truncatingIfNeeded: b)
            let r: UInt32
            switch kind {
            case .add: r = x &+ y
            case .sub: r = x &- y
            case .mul: r = x &* y
            case .div: r = y == 0 ? 0 : x / y
            case .mod: r = y == 0 ? x : x % y
            case .sdiv:
                r =
                    y == 0
                    ? 0
                    : UInt32(
                        bitPattern: Int32(bitPattern: x).dividedReportingOverflow(by: Int32(bitPattern: y)).partialValue
                    )
            case .smod:
                r =
                    y == 0
                    ? x
                    : UInt32(
                        bitPattern: Int32(bitPattern: x).remainderReportingOverflow(dividingBy: Int32(bitPattern: y))
                            .partialValue)
            case .or: r = x | y
            case .and: r = x & y
            case .xor: r = x ^ y
            case .lsh: r = x << (y & 31)
            case .rsh: r = x >> (y & 31)
            case .arsh: r = UInt32(bitPattern: Int32(bitPattern: x) >> Int32(y & 31))
            case .mov: r = y
            }
            return UInt64(r)
        }
        switch kind {
        case .add: return a &+ b
        case .sub: return a &- b
        case .mul: return a &* b
        case .div: return b == 0 ? 0 : a / b
        case .mod: return b == 0 ? a : a % b
        case .sdiv:
            return b == 0
                ? 0
                : UInt64(
                    bitPattern: Int64(bitPattern: a).dividedReportingOverflow(by: Int64(bitPattern: b)).partialValue)
        case .smod:
            return b == 0
                ? a
                : UInt64(
                    bitPattern: Int64(bitPattern: a).remainderReportingOverflow(dividingBy: Int64(bitPattern: b))
                        .partialValue)
        case .or: return a | b
        case .and: return a & b
        case .xor: return a ^ b
        case .lsh: return a << (b & 63)
        case .rsh: return a >> (b & 63)
        case .arsh: return UInt64(bitPattern: Int64(bitPattern: a) >> Int64(b & 63))
        case .mov: return b
        }
    }
}

// MARK: - Comparisons

/// A branch condition as the verifier reasons about it: the jump conditions plus the negation of `jset`.
enum BranchCondition: Sendable {
    case eq, ne, ugt, uge, ult, ule, sgt, sge, slt, sle, set, notSet

    init(_ c: JumpCondition) {
        switch c {
        case .jeq: self = .eq
        case .jne: self = .ne
        case .jgt: self = .ugt
        case .jge: self = .uge
        case .jlt: self = .ult
        case .jle: self = .ule
        case .jsgt: self = .sgt
        case .jsge: self = .sge
        case .jslt: self = .slt
        case .jsle: self = .sle
        case .jset: self = .set
        }
    }

    var negated: BranchCondition {
        switch self {
        case .eq: .ne
        case .ne: .eq
        case .ugt: .ule
        case .uge: .ult
        case .ult: .uge
        case .ule: .ugt
        case .sgt: .sle
        case .sge: .slt
        case .slt: .sge
        case .sle: .sgt
        case .set: .notSet
        case .notSet: .set
        }
    }

    /// The same relation with the operands swapped (`a < b` ⇔ `b > a`).
    var swapped: BranchCondition {
        switch self {
        case .ugt: .ult
        case .uge: .ule
        case .ult: .ugt
        case .ule: .uge
        case .sgt: .slt
        case .sge: .sle
        case .slt: .sgt
        case .sle: .sge
        default: self
        }
    }

    var isSigned: Bool {
        switch self {
        case .sgt, .sge, .slt, .sle: true
        default: false
        }
    }
}

extension Scalar {
    /// Both operands narrowed to the values for which `a cond b` holds (64-bit comparison); nil if none do.
    static func refine(_ cond: BranchCondition, _ a: Scalar, _ b: Scalar) -> (Scalar, Scalar)? {
        var a = a
        var b = b
        switch cond {
        case .eq:
            guard let t = a.tnum.intersection(b.tnum) else { return nil }
            a.tnum = t
            a.umin = max(a.umin, b.umin)
            a.umax = min(a.umax, b.umax)
            a.smin = max(a.smin, b.smin)
            a.smax = min(a.smax, b.smax)
            guard let n = a.normalized() else { return nil }
            return (n, n)
        case .ne:
            if let x = a.constantValue, let y = b.constantValue, x == y { return nil }
            if let y = b.constantValue { a = a.excluding(y) }
            if let x = a.constantValue { b = b.excluding(x) }
        case .ugt:
            if b.umin == .max || a.umax == 0 { return nil }
            a.umin = max(a.umin, b.umin + 1)
            b.umax = min(b.umax, a.umax - 1)
        case .uge:
            a.umin = max(a.umin, b.umin)
            b.umax = min(b.umax, a.umax)
        case .ult:
            return refine(.ugt, b, a).map { ($0.1, $0.0) }
        case .ule:
            return refine(.uge, b, a).map { ($0.1, $0.0) }
        case .sgt:
            if b.smin == .max || a.smax == .min { return nil }
            a.smin = max(a.smin, b.smin + 1)
            b.smax = min(b.smax, a.smax - 1)
        case .sge:
            a.smin = max(a.smin, b.smin)
            b.smax = min(b.smax, a.smax)
        case .slt:
            return refine(.sgt, b, a).map { ($0.1, $0.0) }
        case .sle:
            return refine(.sge, b, a).map { ($0.1, $0.0) }
        case .set:
            if let y = b.constantValue {
                if a.tnum.maxValue & y == 0 { return nil }
                if y.nonzeroBitCount == 1 {
                    a.tnum = Tnum(value: a.tnum.value | y, mask: a.tnum.mask & ~y)
                }
            }
        case .notSet:
            if let y = b.constantValue {
                if a.tnum.value & y != 0 { return nil }
                a.tnum = Tnum(value: a.tnum.value & ~y, mask: a.tnum.mask & ~y)
            }
        }
        guard let na = a.normalized(), let nb = b.normalized() else { return nil }
        return (na, nb)
    }

    /// Removes `v` when it is an end point of a range.
    private func excluding(_ v: UInt64) -> Scalar {
        var s = self
        if s.umin == v && s.umin < s.umax { s.umin += 1 }
        if s.umax == v && s.umin < s.umax { s.umax -= 1 }
        let sv = Int64(bitPattern: v)
        if s.smin == sv && s.smin < s.smax { s.smin += 1 }
        if s.smax == sv && s.smin < s.smax { s.smax -= 1 }
        if s.isConstant && s.tnum.value == v { return s }  // caller handles constant == constant
        return s.normalized() ?? self
    }

    /// Refinement of a 32-bit comparison (`JMP32`): decided on the low halves (zero-extended for unsigned
    /// conditions, sign-extended for signed ones); what it proves about them narrows each register's 32-bit ranges
    /// and low bits, which reach the 64-bit ranges only where the upper half is fixed.
    static func refine32(_ cond: BranchCondition, _ a: Scalar, _ b: Scalar) -> (Scalar, Scalar)? {
        let project: (Scalar) -> Scalar = cond.isSigned ? { $0.signedLow32 } : { $0.low32 }
        guard let (ra, rb) = refine(cond, project(a), project(b)) else { return nil }
        func back(_ original: Scalar, _ refined: Scalar) -> Scalar? {
            var r = original
            r.u32min = max(r.u32min, refined.u32min)
            r.u32max = min(r.u32max, refined.u32max)
            r.s32min = max(r.s32min, refined.s32min)
            r.s32max = min(r.s32max, refined.s32max)
            let low = refined.tnum.low32
            guard let t = r.tnum.intersection(Tnum(value: low.value, mask: low.mask | 0xffff_ffff_0000_0000)) else {
                return nil
            }
            r.tnum = t
            return r.normalized()
        }
        guard let na = back(a, ra), let nb = back(b, rb) else { return nil }
        return (na, nb)
    }
}
