/// A strict JSON (RFC 8259) reader for the files users write by hand (`--maps`): errors give the line and column,
/// and an object with the same key twice is an error rather than one value silently winning.
///
/// Objects keep their members in file order, each with the position of its key, so that later checks can point at
/// the member at fault too.
public enum StrictJSON {
    public indirect enum Value: Equatable, Sendable {
        case object([Member])
        case array([Value])
        case string(String)
        case number(String)
        case bool(Bool)
        case null
    }

    public struct Member: Equatable, Sendable {
        public var key: String
        public var value: Value
        /// Where the key starts.
        public var position: Position
    }

    /// A 1-based line and column (columns count bytes of UTF-8).
    public struct Position: Equatable, Sendable, CustomStringConvertible {
        public var line: Int
        public var column: Int
        public var description: String { "line \(line), column \(column)" }
    }

    public struct SyntaxError: Error, Equatable, CustomStringConvertible {
        public var position: Position
        public var message: String
        public var description: String { "\(position): \(message)" }
    }

    /// Nesting deeper than this is refused (no recursion without bound on hostile input).
    public static let maximumDepth = 64

    public static func parse(_ bytes: [UInt8]) throws(SyntaxError) -> Value {
        var parser = Parser(bytes: bytes)
        parser.skipWhitespace()
        if parser.bytes.starts(with: [0xef, 0xbb, 0xbf]) { parser.offset = 3 }  // a UTF-8 byte-order mark
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.offset == bytes.count else { throw parser.error("unexpected \(parser.describeNext()) after the JSON value") }
        return value
    }

    private struct Parser {
        let bytes: [UInt8]
        var offset = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        func position(at target: Int) -> Position {
            var line = 1
            var lineStart = 0
            for index in 0..<min(target, bytes.count) where bytes[index] == 0x0a {
                line += 1
                lineStart = index + 1
            }
            return Position(line: line, column: target - lineStart + 1)
        }

        func error(_ message: String, at target: Int? = nil) -> SyntaxError {
            SyntaxError(position: position(at: target ?? offset), message: message)
        }

        func describeNext() -> String {
            guard offset < bytes.count else { return "end of input" }
            let byte = bytes[offset]
            if byte >= 0x21 && byte < 0x7f { return "'\(Character(Unicode.Scalar(byte)))'" }
            return "byte 0x\(String(byte, radix: 16))"
        }

        mutating func skipWhitespace() {
            while offset < bytes.count, [0x20, 0x09, 0x0a, 0x0d].contains(bytes[offset]) { offset += 1 }
        }

        mutating func value(depth: Int) throws(SyntaxError) -> Value {
            guard depth < StrictJSON.maximumDepth else { throw error("nested deeper than \(StrictJSON.maximumDepth) levels") }
            guard offset < bytes.count else { throw error("expected a value, found the end of input") }
            switch bytes[offset] {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
            default: throw error("expected a value, found \(describeNext())")
            }
        }

        mutating func literal(_ word: String) throws(SyntaxError) {
            let utf8 = Array(word.utf8)
            guard bytes.count - offset >= utf8.count, Array(bytes[offset..<offset + utf8.count]) == utf8 else {
                throw error("expected a value, found \(describeNext())")
            }
            offset += utf8.count
        }

        mutating func object(depth: Int) throws(SyntaxError) -> Value {
            offset += 1
            var members: [Member] = []
            var seen: [String: Position] = [:]
            skipWhitespace()
            if offset < bytes.count && bytes[offset] == UInt8(ascii: "}") {
                offset += 1
                return .object([])
            }
            while true {
                skipWhitespace()
                guard offset < bytes.count, bytes[offset] == UInt8(ascii: "\"") else {
                    throw error("expected a string key, found \(describeNext())")
                }
                let keyPosition = position(at: offset)
                let key = try string()
                if let first = seen[key] {
                    throw SyntaxError(
                        position: keyPosition, message: "duplicate key \"\(key)\" (first at \(first))")
                }
                seen[key] = keyPosition
                skipWhitespace()
                guard offset < bytes.count, bytes[offset] == UInt8(ascii: ":") else {
                    throw error("expected ':' after the key \"\(key)\", found \(describeNext())")
                }
                offset += 1
                skipWhitespace()
                members.append(Member(key: key, value: try value(depth: depth + 1), position: keyPosition))
                skipWhitespace()
                guard offset < bytes.count else { throw error("unterminated object: expected ',' or '}'") }
                if bytes[offset] == UInt8(ascii: ",") {
                    offset += 1
                    continue
                }
                guard bytes[offset] == UInt8(ascii: "}") else { throw error("expected ',' or '}', found \(describeNext())") }
                offset += 1
                return .object(members)
            }
        }

        mutating func array(depth: Int) throws(SyntaxError) -> Value {
            offset += 1
            var elements: [Value] = []
            skipWhitespace()
            if offset < bytes.count && bytes[offset] == UInt8(ascii: "]") {
                offset += 1
                return .array([])
            }
            while true {
                skipWhitespace()
                elements.append(try value(depth: depth + 1))
                skipWhitespace()
                guard offset < bytes.count else { throw error("unterminated array: expected ',' or ']'") }
                if bytes[offset] == UInt8(ascii: ",") {
                    offset += 1
                    continue
                }
                guard bytes[offset] == UInt8(ascii: "]") else { throw error("expected ',' or ']', found \(describeNext())") }
                offset += 1
                return .array(elements)
            }
        }

        mutating func string() throws(SyntaxError) -> String {
            let start = offset
            offset += 1
            var run = offset  // start of the current run of unescaped bytes
            var text = ""
            func flush(_ end: Int) throws(SyntaxError) {
                guard run < end else { return }
                guard let piece = String(validating: bytes[run..<end], as: UTF8.self) else {
                    throw error("string is not valid UTF-8", at: run)
                }
                text += piece
            }
            while true {
                guard offset < bytes.count else { throw error("unterminated string", at: start) }
                let byte = bytes[offset]
                if byte == UInt8(ascii: "\"") {
                    try flush(offset)
                    offset += 1
                    return text
                }
                if byte < 0x20 { throw error("control character 0x\(String(byte, radix: 16)) in a string (escape it)") }
                if byte != UInt8(ascii: "\\") {
                    offset += 1
                    continue
                }
                try flush(offset)
                let escape = offset
                offset += 1
                guard offset < bytes.count else { throw error("unterminated string", at: start) }
                let simple: Character? =
                    switch bytes[offset] {
                    case UInt8(ascii: "\""): "\""
                    case UInt8(ascii: "\\"): "\\"
                    case UInt8(ascii: "/"): "/"
                    case UInt8(ascii: "b"): "\u{8}"
                    case UInt8(ascii: "f"): "\u{c}"
                    case UInt8(ascii: "n"): "\n"
                    case UInt8(ascii: "r"): "\r"
                    case UInt8(ascii: "t"): "\t"
                    default: nil
                    }
                if let simple {
                    text.append(simple)
                    offset += 1
                } else if bytes[offset] == UInt8(ascii: "u") {
                    var code = try hex4(at: offset + 1, escape: escape)
                    offset += 5
                    if (0xd800..<0xdc00).contains(code) {
                        guard bytes.count - offset >= 6, bytes[offset] == UInt8(ascii: "\\"),
                            bytes[offset + 1] == UInt8(ascii: "u")
                        else { throw error("unpaired surrogate \\u\(String(code, radix: 16))", at: escape) }
                        let low = try hex4(at: offset + 2, escape: escape)
                        guard (0xdc00..<0xe000).contains(low) else {
                            throw error("unpaired surrogate \\u\(String(code, radix: 16))", at: escape)
                        }
                        code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00)
                        offset += 6
                    }
                    guard let scalar = Unicode.Scalar(code) else {
                        throw error("unpaired surrogate \\u\(String(code, radix: 16))", at: escape)
                    }
                    text.unicodeScalars.append(scalar)
                } else {
                    throw error("invalid escape: \\ followed by \(describeNext())", at: escape)
                }
                run = offset
            }
        }

        func hex4(at start: Int, escape: Int) throws(SyntaxError) -> UInt32 {
            guard bytes.count - start >= 4,
                let code = UInt32(String(decoding: bytes[start..<start + 4], as: UTF8.self), radix: 16)
            else { throw error("\\u needs four hex digits", at: escape) }
            return code
        }

        mutating func number() throws(SyntaxError) -> String {
            let start = offset
            if bytes[offset] == UInt8(ascii: "-") { offset += 1 }
            func digits() -> Int {
                let first = offset
                while offset < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[offset]) { offset += 1 }
                return offset - first
            }
            let integerStart = offset
            let integerDigits = digits()
            guard integerDigits > 0 else { throw error("expected digits in a number", at: start) }
            if integerDigits > 1 && bytes[integerStart] == UInt8(ascii: "0") {
                throw error("a number may not start with 0 (hex keys and values are strings: \"0a\")", at: start)
            }
            if offset < bytes.count && bytes[offset] == UInt8(ascii: ".") {
                offset += 1
                guard digits() > 0 else { throw error("expected digits after '.'", at: start) }
            }
            if offset < bytes.count && (bytes[offset] | 0x20) == UInt8(ascii: "e") {
                offset += 1
                if offset < bytes.count && (bytes[offset] == UInt8(ascii: "+") || bytes[offset] == UInt8(ascii: "-")) {
                    offset += 1
                }
                guard digits() > 0 else { throw error("expected digits in the exponent", at: start) }
            }
            return String(decoding: bytes[start..<offset], as: UTF8.self)
        }
    }
}
