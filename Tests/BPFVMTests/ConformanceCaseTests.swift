import Testing

@testable import BPFVM

/// The conformance files in `shared/conformance` (next to the repository), or `SLUICE_CONFORMANCE_DIR`.
enum ConformanceFiles {
    static let expectedCount = 313

    static var directory: String {
        if let override = Environment.value("SLUICE_CONFORMANCE_DIR"), !override.isEmpty { return override }
        // <repo>/Tests/BPFVMTests/ConformanceCaseTests.swift → <repo>/../shared/conformance
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/") + "/../shared/conformance"
    }

    /// Every `.data` file as (name, text). Fails the calling test, naming the directory, if there are none.
    static func all() throws -> [(name: String, text: String)] {
        let names = ((try? TestFiles.list(directory)) ?? []).filter { $0.hasSuffix(".data") }.sorted()
        try #require(
            !names.isEmpty,
            "no conformance .data files in \(directory); set SLUICE_CONFORMANCE_DIR to the conformance directory")
        return try names.map { name in (name, try TestFiles.read(directory + "/" + name)) }
    }
}

@Suite struct ConformanceCaseTests {
    @Test func everyConformanceFileParsesAndAssembles() throws {
        let files = try ConformanceFiles.all()
        #expect(files.count == ConformanceFiles.expectedCount)
        for file in files {
            do {
                let testCase = try ConformanceCase.parse(file.text, name: file.name)
                #expect(testCase.skipReason == nil, "\(file.name): \(testCase.skipReason ?? "")")
                #expect(testCase.expectedResult != nil, "\(file.name) has no result")
                #expect(!(try testCase.program()).isEmpty, "\(file.name) assembled to nothing")
                // Every assembled instruction is one the ISA table accepts (second lddw slots aside).
                let assembled = try Assembler.assemble(testCase.asm)
                var index = 0
                while index < assembled.count {
                    #expect(throws: Never.self, "\(file.name) slot \(index)") {
                        try Operation(decoding: assembled[index])
                    }
                    index += Disassembler.slotCount(of: assembled[index], hasNext: index + 1 < assembled.count)
                }
            } catch {
                Issue.record("\(file.name): \(error)")
            }
        }
    }

    @Test func lddwRawSectionEqualsItsAssembly() throws {
        let file = try #require(try ConformanceFiles.all().first { $0.name == "lddw.data" })
        let testCase = try ConformanceCase.parse(file.text, name: file.name)
        let raw = try #require(testCase.raw)
        #expect(raw == [0x5566_7788_0000_0018, 0x1122_3344_0000_0000, 0x0000_0000_0000_0095])
        #expect(try Assembler.assemble(testCase.asm).map(\.raw) == raw)
        #expect(try testCase.program().map(\.raw) == raw)
        #expect(testCase.expectedResult == 0x1122_3344_5566_7788)
    }

    @Test func readsMemoryAndResultSections() throws {
        let file = try #require(try ConformanceFiles.all().first { $0.name == "mem-len.data" })
        let testCase = try ConformanceCase.parse(file.text, name: file.name)
        #expect(testCase.memory == [0, 0, 0, 1, 0, 0, 0, 2])
        #expect(testCase.expectedResult == 8)
        #expect(testCase.raw == nil)
        #expect(testCase.skipReason == nil)
    }

    @Test func lastResultLineWinsAndCommentsAreDropped() throws {
        let text = """
            # header comment
            -- asm
            mov %r0, 1 # trailing comment
            exit
            -- result
            0x1
            42   # the last non-empty line wins

            """
        let testCase = try ConformanceCase.parse(text, name: "inline")
        #expect(testCase.expectedResult == 42)
        #expect(try testCase.program() == [Instruction(opcode: 0xb7, imm: 1), Instruction(opcode: 0x95)])
    }

    @Test func acceptsCRLFFiles() throws {
        let testCase = try ConformanceCase.parse("-- asm\r\nmov %r0, 3\r\nexit\r\n-- result\r\n0x3\r\n", name: "crlf")
        #expect(testCase.expectedResult == 3)
        #expect(try testCase.program().count == 2)
    }

    @Test func informationalSectionsAreIgnored() throws {
        let text = """
            -- c
            int main() { return 0; }
            -- asm
            exit
            -- no register offset
            free text that is not assembly
            -- error
            division by zero
            """
        let testCase = try ConformanceCase.parse(text, name: "inline")
        #expect(testCase.skipReason == nil)
        #expect(testCase.expectedError == "division by zero")
        #expect(testCase.expectedResult == nil)
        #expect(testCase.asm.split(separator: "\n") == ["exit"])
    }

    @Test func unknownSectionOrMissingExpectationIsASkipNotAnError() throws {
        let unknown = try ConformanceCase.parse("-- asm\nexit\n-- frobnicate\nx\n-- result\n0", name: "u")
        #expect(unknown.skipReason == "unknown section '-- frobnicate' on line 3")
        let noResult = try ConformanceCase.parse("-- asm\nexit\n", name: "n")
        #expect(noResult.skipReason == "no '-- result' or '-- error' section")
    }

    @Test func malformedSectionsAreErrorsWithLineNumbers() {
        #expect(throws: ConformanceFormatError(name: "m", line: 4, message: "expected hex byte, found 'zz'")) {
            try ConformanceCase.parse("-- asm\nexit\n-- mem\n00 zz\n-- result\n0", name: "m")
        }
        #expect(throws: ConformanceFormatError(name: "r", line: 4, message: "expected result value, found '-1'")) {
            try ConformanceCase.parse("-- asm\nexit\n-- result\n-1", name: "r")
        }
        #expect(throws: ConformanceFormatError(name: "w", line: 4, message: "expected instruction word, found '0xg'")) {
            try ConformanceCase.parse("-- asm\nexit\n-- raw\n0xg\n-- result\n0", name: "w")
        }
        #expect(throws: ConformanceFormatError(name: "t", line: 1, message: "text before the first section: 'exit'")) {
            try ConformanceCase.parse("exit\n-- asm\nexit\n-- result\n0", name: "t")
        }
    }

    @Test func assemblyErrorsNameTheFileLine() throws {
        let text = "# licence\n# more\n-- asm\nmov %r0, 1\n\naddd %r0, 1\nexit\n-- result\n0"
        let testCase = try ConformanceCase.parse(text, name: "e")
        #expect(throws: AssemblyError(line: 6, message: "unknown mnemonic 'addd'")) { try testCase.program() }
    }
}
