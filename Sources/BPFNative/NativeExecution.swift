import BPFVM

extension Machine {
    /// Runs native code with r1, r2 as given (the conformance calling convention). `fault` is caller-owned scratch
    /// memory (one per machine), cleared here; nothing is allocated per run.
    @inlinable
    public func runNative(
        _ entry: NativeFunction, r1: UInt64, r2: UInt64 = 0, fault: UnsafeMutablePointer<NativeFault>
    ) -> RunResult {
        fault.pointee.code = 0
        environment.pointee.budgetRemaining = Int64(clamping: environment.pointee.instructionBudget)
        let r0 = entry(UnsafeMutableRawPointer(environment), r1, r2, UnsafeMutableRawPointer(fault))
        if fault.pointee.code != 0 { return RunResult(returnValue: 0, fault: fault.pointee.executionFault) }
        return RunResult(returnValue: r0)
    }

    /// `runXDP` (LoadedProgram.swift) for native code: same frame set-up, same result.
    @inlinable
    public func runXDPNative(
        _ entry: NativeFunction, buffer: UnsafeMutableRawPointer, dataOffset: Int, length: Int, metaLength: Int,
        frameEnd: Int, fault: UnsafeMutablePointer<NativeFault>
    ) -> XDPRunResult {
        let env = environment
        env.pointee.setFrame(
            hardStart: buffer, dataOffset: dataOffset, length: length, metaLength: metaLength, frameSize: frameEnd)
        let result = runNative(entry, r1: contextPointer, fault: fault)
        let data = env.pointee.data.unsafelyUnwrapped
        return XDPRunResult(
            returnValue: result.returnValue, fault: result.fault, dataOffset: data - buffer,
            length: env.pointee.dataEnd.unsafelyUnwrapped - data,
            metaLength: data - env.pointee.dataMeta.unsafelyUnwrapped,
            redirectKind: env.pointee.redirectKind, redirectValue: env.pointee.redirectValue, instructionCount: 0)
    }
}

/// Runs bpf_conformance cases natively under the suite's calling convention (as `ConformanceRunner` does for the
/// interpreter): r1 = a private copy of the case's memory, r2 = its length.
public struct NativeConformanceRunner: ~Copyable {
    let machine = Machine()
    let helpers: (Int32) -> HelperFunction?
    let helperTable: UnsafeMutablePointer<HelperFunction?>
    let fault: UnsafeMutablePointer<NativeFault>
    static let helperTableCount = 256

    public init(helpers: @escaping (Int32) -> HelperFunction?) {
        self.helpers = helpers
        helperTable = .allocate(capacity: Self.helperTableCount)
        for id in 0..<Self.helperTableCount { (helperTable + id).initialize(to: helpers(Int32(id))) }
        machine.environment.pointee.helperTable = UnsafePointer(helperTable)
        machine.environment.pointee.helperTableCount = Self.helperTableCount
        fault = .allocate(capacity: 1)
        fault.initialize(to: NativeFault())
    }

    deinit {
        machine.environment.pointee.helperTable = nil
        helperTable.deallocate()
        fault.deallocate()
    }

    public func run(_ testCase: ConformanceCase) -> ConformanceRunner.Outcome {
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
            if let expected = testCase.expectedError {
                return error.description.contains(expected)
                    ? .passed : .failed("expected error '\(expected)', got '\(error)'")
            }
            return .failed("load: \(error)")
        }
        let code: NativeCode
        do { code = try NativeCompiler.code(for: program) } catch { return .failed("native: \(error)") }
        let memory = UnsafeMutableRawPointer.allocate(byteCount: max(testCase.memory.count, 1), alignment: 16)
        defer { memory.deallocate() }
        memory.copyMemory(from: testCase.memory, byteCount: testCase.memory.count)
        let result = machine.runNative(
            code.entry, r1: UInt64(UInt(bitPattern: memory)), r2: UInt64(testCase.memory.count), fault: fault)
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
