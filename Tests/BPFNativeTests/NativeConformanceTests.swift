import BPFNative
import BPFVM
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The public bpf_conformance suite (../shared/conformance) compiled by the native tier: every case must pass, as it
/// does in the interpreter's two modes (ConformanceSuiteTests).
@Suite struct NativeConformanceTests {
    static let directory: String = {
        if let custom = getenv("SLUICE_CONFORMANCE_DIR") { return String(cString: custom) }
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/") + "/../shared/conformance"
    }()

    @Test func everyCasePassesNatively() throws {
        try #require(NativeCompiler.isAvailable, "LLVM 19 is required: \(NativeCompiler.unavailableReason ?? "")")
        let names = try TestFiles.list(Self.directory).filter { $0.hasSuffix(".data") }.sorted()
        let cases = try names.map { try ConformanceCase.parse(try TestFiles.read(Self.directory + "/" + $0), name: $0) }
        #expect(cases.count == 313, "expected the suite's 313 cases in \(Self.directory), found \(cases.count)")
        let runner = NativeConformanceRunner(helpers: TestHelpers.resolve)
        var failures: [String] = []
        for testCase in cases {
            switch runner.run(testCase) {
            case .passed: break
            case .failed(let why): failures.append("\(testCase.name): \(why)")
            case .skipped(let why): failures.append("\(testCase.name): skipped (\(why))")
            }
        }
        #expect(failures.isEmpty, Comment(rawValue: "\(failures.count) of \(cases.count) cases failed natively:\n" + failures.joined(separator: "\n")))
    }

    @Test func aWrongExpectationIsReportedAsFailure() throws {
        try #require(NativeCompiler.isAvailable)
        let testCase = try ConformanceCase.parse("-- asm\nmov %r0, 1\nexit\n-- result\n0x2\n", name: "inline")
        let runner = NativeConformanceRunner(helpers: TestHelpers.resolve)
        #expect(runner.run(testCase) == .failed("r0 = 0x1, expected 0x2"))
    }
}
