import Testing

@testable import BPFVM

/// The public bpf_conformance suite (../shared/conformance): every case must pass in both execution modes.
@Suite struct ConformanceSuiteTests {
    static let directory: String = {
        if let custom = Environment.value("SLUICE_CONFORMANCE_DIR") { return custom }
        // <repo>/Tests/BPFVMTests/ThisFile.swift → <repo>/../shared/conformance
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/") + "/../shared/conformance"
    }()

    static func loadCases() throws -> [ConformanceCase] {
        let names = try TestFiles.list(directory).filter { $0.hasSuffix(".data") }.sorted()
        return try names.map { name in try ConformanceCase.parse(try TestFiles.read(directory + "/" + name), name: name) }
    }

    @Test(arguments: ConformanceRunner.Mode.allCases)
    func everyCasePasses(mode: ConformanceRunner.Mode) throws {
        let cases = try Self.loadCases()
        #expect(cases.count == 313, "expected the suite's 313 cases in \(Self.directory), found \(cases.count)")
        let runner = ConformanceRunner(helpers: TestHelpers.resolve)
        var failures: [String] = []
        for testCase in cases {
            switch runner.run(testCase, mode: mode) {
            case .passed: break
            case .failed(let why): failures.append("\(testCase.name): \(why)")
            case .skipped(let why): failures.append("\(testCase.name): skipped (\(why))")
            }
        }
        #expect(failures.isEmpty, Comment(rawValue: "\(failures.count) of \(cases.count) cases failed in \(mode) mode:\n" + failures.joined(separator: "\n")))
    }

    @Test func aWrongExpectationIsReportedAsFailure() throws {
        var testCase = try ConformanceCase.parse("-- asm\nmov %r0, 1\nexit\n-- result\n0x2\n", name: "inline")
        let runner = ConformanceRunner(helpers: TestHelpers.resolve)
        #expect(runner.run(testCase, mode: .normal) == .failed("r0 = 0x1, expected 0x2"))
        testCase.expectedResult = 1
        #expect(runner.run(testCase, mode: .checked) == .passed)
    }

    @Test func checkedModeFaultsOutsideTheMemory() throws {
        let testCase = try ConformanceCase.parse("-- asm\nldxdw %r0, [%r1+8]\nexit\n-- mem\n00 01 02 03\n-- result\n0x0\n", name: "oob")
        let runner = ConformanceRunner(helpers: TestHelpers.resolve)
        guard case .failed(let why) = runner.run(testCase, mode: .checked) else {
            Issue.record("an out-of-bounds read must fault in checked mode")
            return
        }
        #expect(why.contains("instruction 0: read of 8 bytes"))
    }
}
