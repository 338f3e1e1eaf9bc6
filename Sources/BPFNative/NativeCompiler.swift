import BPFVM
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A compiled program's entry: `(environment, r1, r2, fault) -> r0`. C ABI; the JIT's code calls helpers through the
/// helper table's `@convention(c)` functions and tail calls through `NativeHooks.tailCallTarget`.
public typealias NativeFunction =
    @convention(c) (UnsafeMutableRawPointer?, UInt64, UInt64, UnsafeMutableRawPointer?) -> UInt64

/// Where native code reports the few faults it can still meet (a `callx` of an unknown helper, a bad `bpf_loop`
/// callback, a weak kfunc the program called anyway). Zero means none; the caller clears it before a run.
@frozen
public struct NativeFault {
    public var code: Int32 = 0
    public var instructionIndex: Int32 = 0
    public var detail: UInt64 = 0
    public init() {}

    /// The interpreter's fault for this record, or nil if there is none.
    public var executionFault: ExecutionFault? {
        let kind: ExecutionFault.Kind
        switch IRLowering.FaultCode(rawValue: code) {
        case nil: return nil
        case .invalidInstruction: kind = .invalidInstruction
        case .invalidCallback: kind = .invalidCallback
        case .unknownHelper: kind = .unknownHelper(id: detail)
        case .budgetExceeded: kind = .instructionBudgetExceeded(budget: detail)
        }
        return ExecutionFault(instructionIndex: Int(instructionIndex), kind: kind)
    }
}

/// One program's machine code, owned by its `ExecutableProgram` (`ExecutableProgram.nativeCode`). Freed from the
/// JIT when the program goes away.
public final class NativeCode: @unchecked Sendable {
    public let entry: NativeFunction
    /// Lowering + optimisation + machine-code generation, in nanoseconds.
    public let compileNanos: UInt64
    /// The IR before optimisation (for `--emit-llvm`-style inspection and tests).
    public let irText: String
    private let tracker: OpaquePointer
    private let library: LLVMLibrary

    init(entry: NativeFunction, compileNanos: UInt64, irText: String, tracker: OpaquePointer, library: LLVMLibrary) {
        self.entry = entry
        self.compileNanos = compileNanos
        self.irText = irText
        self.tracker = tracker
        self.library = library
    }

    deinit {
        _ = library.message(of: library.removeResourceTracker(tracker))
        library.releaseResourceTracker(tracker)
    }
}

/// Compiles verified programs to machine code with LLVM's ORC LLJIT (one JIT per process, one module and resource
/// tracker per program). Compilation happens once per program load; the result is cached on the program.
public enum NativeCompiler {
    /// nil when the native tier can be used; otherwise what to install.
    public static var unavailableReason: String? {
        switch JIT.shared {
        case .success: nil
        case .failure(let error): error.message
        }
    }

    public static var isAvailable: Bool { unavailableReason == nil }

    /// The optimisation pipeline run on each module before code generation.
    public static let pipeline = "default<O2>"

    /// The program's native code, compiling it on first use.
    public static func code(for program: ExecutableProgram) throws(NativeError) -> NativeCode {
        let jit: JIT
        switch JIT.shared {
        case .success(let value): jit = value
        case .failure(let error): throw error
        }
        return try jit.lock.withLock { _ throws(NativeError) -> NativeCode in
            if let existing = program.nativeCode as? NativeCode { return existing }
            let code = try jit.compile(program)
            program.attachNative(entry: unsafeBitCast(code.entry, to: UnsafeRawPointer.self), owner: code)
            return code
        }
    }

    /// The unoptimised IR Sluice generates for `program` (for inspection and tests; no JIT needed beyond the layout).
    public static func ir(for program: ExecutableProgram) throws(NativeError) -> String {
        switch JIT.shared {
        case .success(let jit):
            var lowering = IRLowering(
                code: program.decoded, instructions: program.instructions, entryName: "entry",
                dataLayout: jit.dataLayout, triple: jit.triple, tailCallThunk: jit.tailCallThunk)
            return try lowering.lower()
        case .failure(let error): throw error
        }
    }
}

/// The process's LLJIT and the target facts the IR is generated for.
final class JIT: @unchecked Sendable {
    let library: LLVMLibrary
    let jit: OpaquePointer
    let dylib: OpaquePointer
    let targetMachine: OpaquePointer?
    let dataLayout: String
    let triple: String
    let tailCallThunk = UInt(bitPattern: unsafeBitCast(NativeHooks.tailCallTarget, to: UnsafeRawPointer.self))
    let lock = Mutex(0)

    static let shared: Result<JIT, NativeError> = {
        switch LLVMLibrary.shared {
        case .success(let library):
            do throws(NativeError) { return .success(try JIT(library: library)) } catch { return .failure(error) }
        case .failure(let error): return .failure(error)
        }
    }()

    private init(library: LLVMLibrary) throws(NativeError) {
        self.library = library
        var jit: OpaquePointer?
        if let message = library.message(of: library.createLLJIT(&jit, nil)) {
            throw NativeError("LLVM could not create a JIT: \(message)")
        }
        guard let jit, let dylib = library.getMainJITDylib(jit) else { throw NativeError("LLVM returned no JIT") }
        self.jit = jit
        self.dylib = dylib
        dataLayout = String(cString: library.getDataLayoutString(jit)!)
        triple = String(cString: library.getTripleString(jit)!)
        // A target machine for the optimiser's cost model (host CPU and features, as the JIT's code generator uses).
        var target: OpaquePointer?
        var error: UnsafeMutablePointer<CChar>?
        if library.getTargetFromTriple(triple, &target, &error) == 0, let target {
            let cpu = library.getHostCPUName()
            let features = library.getHostCPUFeatures()
            defer {
                library.disposeMessage(cpu)
                library.disposeMessage(features)
            }
            // LLVMCodeGenLevelDefault = 2, LLVMRelocDefault = 0, LLVMCodeModelJITDefault = 1.
            let cpuName = cpu.map { String(cString: $0) } ?? ""
            let featureList = features.map { String(cString: $0) } ?? ""
            targetMachine = library.createTargetMachine(target, triple, cpuName, featureList, 2, 0, 1)
        } else {
            library.disposeMessage(error)
            targetMachine = nil
        }
    }

    private var counter = 0

    func compile(_ program: ExecutableProgram) throws(NativeError) -> NativeCode {
        let started = DispatchClock.now()
        counter += 1
        let name = "sluice_native_\(counter)"
        var lowering = IRLowering(
            code: program.decoded, instructions: program.instructions, entryName: name, dataLayout: dataLayout,
            triple: triple, tailCallThunk: tailCallThunk)
        let ir = try lowering.lower()

        guard let context = library.createThreadSafeContext(),
            let llvmContext = library.threadSafeContextGetContext(context)
        else { throw NativeError("LLVM could not create a context") }
        // The thread-safe module takes its own reference to the context.
        defer { library.disposeThreadSafeContext(context) }
        let buffer = ir.withCString { text in
            library.createMemoryBufferCopy(text, strlen(text), name)
        }
        guard let buffer else { throw NativeError("LLVM could not create a memory buffer") }
        var module: OpaquePointer?
        var message: UnsafeMutablePointer<CChar>?
        if library.parseIRInContext(llvmContext, buffer, &module, &message) != 0 || module == nil {
            let text = message.map { String(cString: $0) } ?? "unknown error"
            library.disposeMessage(message)
            throw NativeError("generated IR does not parse (a Sluice bug): \(text)")
        }
        guard let module, let options = library.createPassBuilderOptions() else {
            throw NativeError("LLVM could not create pass options")
        }
        defer { library.disposePassBuilderOptions(options) }
        if let error = library.message(of: library.runPasses(module, NativeCompiler.pipeline, targetMachine, options)) {
            library.disposeModule(module)
            throw NativeError("LLVM optimisation failed: \(error)")
        }
        guard let threadSafeModule = library.createThreadSafeModule(module, context),
            let tracker = library.createResourceTracker(dylib)
        else { throw NativeError("LLVM could not create a module for the JIT") }
        if let error = library.message(of: library.addModuleWithTracker(jit, tracker, threadSafeModule)) {
            library.releaseResourceTracker(tracker)
            throw NativeError("LLVM JIT refused the module: \(error)")
        }
        var address: UInt64 = 0
        if let error = library.message(of: library.lookup(jit, &address, name)) {
            library.releaseResourceTracker(tracker)
            throw NativeError("LLVM JIT could not compile the program: \(error)")
        }
        guard let pointer = UnsafeRawPointer(bitPattern: UInt(address)) else {
            throw NativeError("LLVM JIT returned a null entry")
        }
        let entry = unsafeBitCast(pointer, to: NativeFunction.self)
        return NativeCode(
            entry: entry, compileNanos: DispatchClock.now() - started, irText: ir, tracker: tracker, library: library)
    }
}

/// Monotonic nanoseconds (compile-time measurement only).
enum DispatchClock {
    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
