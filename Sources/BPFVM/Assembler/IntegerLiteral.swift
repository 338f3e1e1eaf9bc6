/// Integer literals of the assembly syntax: optional sign, then decimal digits or `0x` and hex digits.
enum IntegerLiteral {
    /// The value as a sign and a magnitude, or nil if `text` is not a literal or its magnitude exceeds 64 bits.
    static func parse(_ text: Substring) -> (negative: Bool, magnitude: UInt64)? {
        var digits = text
        var negative = false
        if let sign = digits.first, sign == "-" || sign == "+" {
            negative = sign == "-"
            digits = digits.dropFirst()
        }
        var radix: UInt64 = 10
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") {
            radix = 16
            digits = digits.dropFirst(2)
        }
        guard !digits.isEmpty else { return nil }
        var magnitude: UInt64 = 0
        for character in digits {
            guard let digit = character.hexDigitValue, UInt64(digit) < radix else { return nil }
            let (shifted, overflow1) = magnitude.multipliedReportingOverflow(by: radix)
            let (sum, overflow2) = shifted.addingReportingOverflow(UInt64(digit))
            guard !overflow1, !overflow2 else { return nil }
            magnitude = sum
        }
        return (negative, magnitude)
    }

    /// Whether `text` has the form of a literal, whatever its magnitude (to tell "too big" from "not a number").
    static func isWellFormed(_ text: Substring) -> Bool {
        var digits = text
        if digits.first == "-" || digits.first == "+" { digits = digits.dropFirst() }
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") {
            digits = digits.dropFirst(2)
            return !digits.isEmpty && digits.allSatisfy(\.isHexDigit)
        }
        return !digits.isEmpty && digits.allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// A value for a 32-bit field: accepted from -2³¹ through 2³²-1 (so both `-1` and `0xffffffff` give all ones).
    static func bits32(_ text: Substring) -> Int32? {
        guard let (negative, magnitude) = parse(text) else { return nil }
        if negative {
            guard magnitude <= 1 << 31 else { return nil }
            return Int32(truncatingIfNeeded: 0 &- magnitude)
        }
        guard magnitude <= UInt64(UInt32.max) else { return nil }
        return Int32(truncatingIfNeeded: magnitude)
    }

    /// A value for a 64-bit field: accepted from -2⁶³ through 2⁶⁴-1.
    static func bits64(_ text: Substring) -> UInt64? {
        guard let (negative, magnitude) = parse(text) else { return nil }
        if negative {
            guard magnitude <= 1 << 63 else { return nil }
            return 0 &- magnitude
        }
        return magnitude
    }

    /// A signed value in `range` (offsets and distances, where only the signed reading makes sense).
    static func signed(_ text: Substring, in range: ClosedRange<Int64>) -> Int64? {
        guard let (negative, magnitude) = parse(text), magnitude <= 1 << 63 else { return nil }
        let value = negative ? Int64(truncatingIfNeeded: 0 &- magnitude) : Int64(exactly: magnitude)
        guard let value, range.contains(value) else { return nil }
        return value
    }

    /// Formats a value the way the disassembler prints immediates: decimal when small, hex otherwise.
    static func format(_ value: Int64) -> String {
        if value > -65536 && value < 65536 { return String(value) }
        return (value < 0 ? "-0x" : "0x") + String(value.magnitude, radix: 16)
    }

    /// Formats a relative distance with an explicit sign (`+3`, `-1`, `+0`).
    static func formatDistance(_ value: Int64) -> String {
        value < 0 ? String(value) : "+" + String(value)
    }
}
