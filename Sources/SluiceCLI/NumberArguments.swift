import ArgumentParser

/// Parsers for numeric options that say why a value is refused (negative, too large, not a number, not finite),
/// used with `parsing: .unconditional` so that `--limit -5` reaches them instead of being taken for an option.
enum NumberArgument {
    /// A whole number in `range`; `what` names the unit in messages ("packets", "frames per batch").
    static func count(_ text: String, in range: ClosedRange<Int>, what: String) throws -> Int {
        let trimmed = text.hasPrefix("+") ? String(text.dropFirst()) : text
        let negative = trimmed.hasPrefix("-")
        let digits = negative ? String(trimmed.dropFirst()) : trimmed
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            throw ValidationError("'\(text)' is not a whole number of \(what)")
        }
        let bounds = "\(range.lowerBound)...\(range.upperBound)"
        if negative {
            throw ValidationError("'\(text)' is negative: give a number of \(what) in \(bounds)")
        }
        guard let value = Int(digits), value <= range.upperBound else {
            throw ValidationError("\(text) \(what) is more than the limit of \(range.upperBound) (\(bounds))")
        }
        guard value >= range.lowerBound else {
            throw ValidationError("\(text) \(what) is less than \(range.lowerBound) (\(bounds))")
        }
        return value
    }

    /// A 64-bit seed: decimal or `0x` hex, 0...2⁶⁴-1.
    static func seed(_ text: String) throws -> UInt64 {
        if text.hasPrefix("-") {
            throw ValidationError("'\(text)' is negative: a seed is 0...\(UInt64.max) (decimal or 0x hex)")
        }
        let value = text.hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text, radix: 10)
        guard let value else {
            let isNumber = !text.isEmpty && text.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
            throw ValidationError(
                isNumber
                    ? "\(text) is more than \(UInt64.max), the largest seed"
                    : "'\(text)' is not a seed: a whole number 0...\(UInt64.max) (decimal or 0x hex)")
        }
        return value
    }

    /// A finite number of seconds in `range` (refuses nan and inf, which `Double` parses).
    static func seconds(_ text: String, in range: ClosedRange<Double>, allowZero: Bool = false) throws -> Double {
        guard let value = Double(text) else { throw ValidationError("'\(text)' is not a number of seconds") }
        guard value.isFinite else { throw ValidationError("'\(text)' is not a finite number of seconds") }
        let bounds = "\(allowZero ? "[" : "(")\(format(range.lowerBound)), \(format(range.upperBound))]"
        guard range.contains(value), allowZero || value > range.lowerBound else {
            throw ValidationError("\(text) seconds is outside \(bounds)")
        }
        return value
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}
