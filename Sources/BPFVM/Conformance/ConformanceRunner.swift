/// Runs bpf_conformance cases (`ConformanceCase`) in the interpreter under the suite's calling convention: r1 points
/// to a private copy of the case's memory, r2 is its length, r10 is the top of a 512-byte (here: 4 KiB) stack.
public struct ConformanceRunner: ~Copyable {
    public enum Mode: String, Sendable, CaseIterable {
        /// No bounds checks (what verified programs get).
        case normal
        /// Every memory access bounds-checked.
        case checked
    }

    public enum Outcome: Hashable, Sendable {
        case passed
        case failed(String)
        case skipped(String)
    }

    let machine = Machine()
    let helpers: (Int32) -> HelperFunction?
    /// Dense id → implementation table for `callx`.
    let helperTable: UnsafeMutablePointer<HelperFunction?>
    static let helperTableCount = 256

    /// `helpers` resolves helper ids; the suite only calls helper 5 (`bpf_ktime_get_ns`) and expects it to return.
    public init(helpers: @escaping (Int32) -> HelperFunction?) {
        self.helpers = helpers
        helperTable = .allocate(capacity: Self.helperTableCount)
        for id in 0..<Self.helperTableCount { (helperTable + id).initialize(to: helpers(Int32(id))) }
        machine.environment.pointee.helperTable = UnsafePointer(helperTable)
        machine.environment.pointee.helperTableCount = Self.helperTableCount
    }

    deinit {
        machine.environment.pointee.helperTable = nil
        helperTable.deallocate()
    }

    public func run(_ testCase: ConformanceCase, mode: Mode) -> Outcome {
        if let reason = testCase.skipReason { return .skipped(reason) }
        let instructions: [Instruction]
        do { instructions = try testCase.program() } catch {
            return .failed("assembly: line \(error.line): \(error.message)")
        }
        let program: ExecutableProgram
        do {
            program = try ExecutableProgram(
                instructions: instructions, context: TranslationContext(helper: helpers), analyseContext: false)
        } catch {
            if let expected = testCase.expectedError { return error.description.contains(expected) ? .passed : .failed("expected error '\(expected)', got '\(error)'") }
            return .failed("load: \(error)")
        }
        // A private, writable copy of the memory; at least one byte so the pointer is never null.
        let memory = UnsafeMutableRawPointer.allocate(byteCount: max(testCase.memory.count, 1), alignment: 16)
        defer { memory.deallocate() }
        memory.copyMemory(from: testCase.memory, byteCount: testCase.memory.count)
        let region = UnsafeMutablePointer<MemoryRegion>.allocate(capacity: 1)
        defer { region.deallocate() }
        let start = UInt(bitPattern: memory)
        region.initialize(to: MemoryRegion(start: start, end: start + UInt(testCase.memory.count), writable: true))
        machine.environment.pointee.regions = region
        machine.environment.pointee.regionCount = 1
        defer {
            machine.environment.pointee.regions = nil
            machine.environment.pointee.regionCount = 0
        }

        let r1 = UInt64(start)
        let r2 = UInt64(testCase.memory.count)
        let result = mode == .checked ? machine.runChecked(program, r1: r1, r2: r2) : machine.run(program, r1: r1, r2: r2)
        if let fault = result.fault {
            if let expected = testCase.expectedError, fault.description.contains(expected) { return .passed }
            return .failed("fault: \(fault)")
        }
        if let expected = testCase.expectedResult {
            return result.returnValue == expected
                ? .passed
                : .failed("r0 = 0x\(String(result.returnValue, radix: 16)), expected 0x\(String(expected, radix: 16))")
        }
        return .failed("expected error '\(testCase.expectedError ?? "")', but the program returned normally")
    }
}

/// The results of running a directory of cases.
public struct ConformanceReport: Sendable {
    public var results: [(name: String, outcome: ConformanceRunner.Outcome)]
    public var passed: Int { results.filter { $0.outcome == .passed }.count }
    public var failed: Int { results.filter { if case .failed = $0.outcome { true } else { false } }.count }
    public var skipped: Int { results.filter { if case .skipped = $0.outcome { true } else { false } }.count }

    public init(results: [(name: String, outcome: ConformanceRunner.Outcome)]) {
        self.results = results
    }

    /// `N passed, N failed` (`, N skipped` when any), the closing line CI reads.
    public var summary: String {
        "\(passed) passed, \(failed) failed" + (skipped > 0 ? ", \(skipped) skipped" : "")
    }
}
