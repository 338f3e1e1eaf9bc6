/// One bpf_conformance test case (a `.data` file), parsed as `shared/conformance/FORMAT.md` describes.
///
/// A line containing `--` starts a section named by the text after it; `#` starts a comment everywhere. Sections
/// `asm`, `raw`, `mem`, `result` and `error` are read; `c` and `no register offset` are informational and ignored.
/// A case with an unknown section, or with neither `result` nor `error`, parses with a `skipReason` instead of
/// failing, as the upstream runner skips such files.
public struct ConformanceCase: Sendable {
    /// The file name or other label the case was parsed under.
    public var name: String
    /// The `-- asm` section's text (comments removed), line for line.
    public var asm: String
    /// File line number of the first line of `asm`, so assembly errors can name the file's line.
    public var asmFirstLine: Int
    /// The `-- raw` section: pre-encoded instruction words, used instead of `asm` when present.
    public var raw: [UInt64]?
    /// Initial contents of the input buffer (`-- mem`); empty if absent.
    public var memory: [UInt8]
    /// Expected final `r0` (`-- result`; the last non-empty line wins).
    public var expectedResult: UInt64?
    /// Expected failure text (`-- error`; the last non-empty line wins).
    public var expectedError: String?
    /// Why a runner should skip this case, if it should.
    public var skipReason: String?

    public init(
        name: String, asm: String, asmFirstLine: Int = 1, raw: [UInt64]? = nil, memory: [UInt8] = [],
        expectedResult: UInt64? = nil, expectedError: String? = nil, skipReason: String? = nil
    ) {
        self.name = name
        self.asm = asm
        self.asmFirstLine = asmFirstLine
        self.raw = raw
        self.memory = memory
        self.expectedResult = expectedResult
        self.expectedError = expectedError
        self.skipReason = skipReason
    }

    /// Parses a case; throws `ConformanceFormatError` for malformed `raw`, `mem` or `result` contents.
    public static func parse(_ text: String, name: String) throws(ConformanceFormatError) -> ConformanceCase {
        var testCase = ConformanceCase(name: name, asm: "")
        var section: Substring? = nil
        var asmLines: [Substring] = []
        var asmFirstLine: Int? = nil
        var rawWords: [UInt64]? = nil
        var lineNumber = 0
        func fail(_ message: String) -> ConformanceFormatError {
            ConformanceFormatError(name: name, line: lineNumber, message: message)
        }

        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            lineNumber += 1
            var line = rawLine
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            line = line.trimmed
            if let dashes = line.firstRange(of: "--") {
                let keyword = line[dashes.upperBound...].trimmed
                section = keyword
                switch keyword {
                case "asm":
                    asmFirstLine = asmFirstLine ?? lineNumber + 1
                case "raw":
                    rawWords = rawWords ?? []
                case "mem", "result", "error", "c", "no register offset":
                    break
                default:
                    if testCase.skipReason == nil {
                        testCase.skipReason = "unknown section '-- \(keyword)' on line \(lineNumber)"
                    }
                }
                continue
            }
            switch section {
            case "asm":
                // Keep blank lines so that assembler line numbers map back onto the file.
                if asmFirstLine == nil { asmFirstLine = lineNumber }
                asmLines.append(line)
            case "raw" where !line.isEmpty:
                for word in line.split(whereSeparator: \.isWhitespace) {
                    guard let value = parseUnsigned(word) else {
                        throw fail("expected instruction word, found '\(word)'")
                    }
                    rawWords?.append(value)
                }
            case "mem" where !line.isEmpty:
                for byte in line.split(whereSeparator: \.isWhitespace) {
                    guard byte.count <= 2, let value = UInt8(byte, radix: 16) else {
                        throw fail("expected hex byte, found '\(byte)'")
                    }
                    testCase.memory.append(value)
                }
            case "result" where !line.isEmpty:
                guard let value = parseUnsigned(line) else { throw fail("expected result value, found '\(line)'") }
                testCase.expectedResult = value
            case "error" where !line.isEmpty:
                testCase.expectedError = String(line)
            case nil where !line.isEmpty:
                throw fail("text before the first section: '\(line)'")
            default:
                break
            }
        }
        // Drop trailing blank lines so the stored text is tidy; leading ones are needed for line numbers.
        while asmLines.last?.isEmpty == true { asmLines.removeLast() }
        testCase.asm = asmLines.joined(separator: "\n")
        testCase.asmFirstLine = asmFirstLine ?? 1
        testCase.raw = rawWords
        if testCase.skipReason == nil && testCase.expectedResult == nil && testCase.expectedError == nil {
            testCase.skipReason = "no '-- result' or '-- error' section"
        }
        return testCase
    }

    /// The program: the `raw` words if present, else the assembled `asm`. Assembly errors carry the file's line number.
    public func program() throws(AssemblyError) -> [Instruction] {
        if let raw { return raw.map(Instruction.init(raw:)) }
        do {
            return try Assembler.assemble(asm)
        } catch {
            throw AssemblyError(line: error.line + asmFirstLine - 1, message: error.message)
        }
    }

    /// `0x…` hex or decimal, 64-bit unsigned.
    static func parseUnsigned(_ text: Substring) -> UInt64? {
        guard !text.hasPrefix("-"), !text.hasPrefix("+"), let (_, magnitude) = IntegerLiteral.parse(text) else {
            return nil
        }
        return magnitude
    }
}

/// A `.data` file whose `raw`, `mem` or `result` section is malformed.
public struct ConformanceFormatError: Error, Hashable, Sendable, CustomStringConvertible {
    public var name: String
    public var line: Int
    public var message: String
    public var description: String { "\(name):\(line): \(message)" }
}
