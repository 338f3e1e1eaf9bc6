#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why the native tier is not available or could not compile a program. The message is meant for users as it is.
public struct NativeError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The part of LLVM's C API (Debian's llvm-19, libLLVM.so.19.1) the native tier uses, loaded at run time with
/// `dlopen` so that Sluice builds and runs without LLVM installed. The declarations are our own: every LLVM handle
/// is an opaque pointer, every function is looked up once by its C name.
final class LLVMLibrary: @unchecked Sendable {
    typealias Handle = OpaquePointer

    // Error handling (LLVMErrorRef / char * messages).
    let getErrorMessage: @convention(c) (Handle) -> UnsafeMutablePointer<CChar>?
    let disposeErrorMessage: @convention(c) (UnsafeMutablePointer<CChar>?) -> Void
    let disposeMessage: @convention(c) (UnsafeMutablePointer<CChar>?) -> Void
    // Parsing textual IR into a module.
    let createThreadSafeContext: @convention(c) () -> Handle?
    let threadSafeContextGetContext: @convention(c) (Handle) -> Handle?
    let disposeThreadSafeContext: @convention(c) (Handle) -> Void
    let createMemoryBufferCopy:
        @convention(c) (UnsafePointer<CChar>, Int, UnsafePointer<CChar>) -> Handle?
    let parseIRInContext:
        @convention(c) (Handle, Handle, UnsafeMutablePointer<Handle?>, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>)
            -> Int32
    let disposeModule: @convention(c) (Handle) -> Void
    // The new pass manager.
    let createPassBuilderOptions: @convention(c) () -> Handle?
    let disposePassBuilderOptions: @convention(c) (Handle) -> Void
    let runPasses: @convention(c) (Handle, UnsafePointer<CChar>, Handle?, Handle) -> Handle?
    // Target machine (for the optimiser's cost model).
    let getTargetFromTriple:
        @convention(c) (
            UnsafePointer<CChar>, UnsafeMutablePointer<Handle?>, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
        ) -> Int32
    let getHostCPUName: @convention(c) () -> UnsafeMutablePointer<CChar>?
    let getHostCPUFeatures: @convention(c) () -> UnsafeMutablePointer<CChar>?
    let createTargetMachine:
        @convention(c) (Handle, UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafePointer<CChar>, Int32, Int32, Int32)
            -> Handle?
    // ORC LLJIT.
    let createLLJIT: @convention(c) (UnsafeMutablePointer<Handle?>, Handle?) -> Handle?
    let getMainJITDylib: @convention(c) (Handle) -> Handle?
    let getDataLayoutString: @convention(c) (Handle) -> UnsafePointer<CChar>?
    let getTripleString: @convention(c) (Handle) -> UnsafePointer<CChar>?
    let createThreadSafeModule: @convention(c) (Handle, Handle) -> Handle?
    let createResourceTracker: @convention(c) (Handle) -> Handle?
    let addModuleWithTracker: @convention(c) (Handle, Handle, Handle) -> Handle?
    let lookup: @convention(c) (Handle, UnsafeMutablePointer<UInt64>, UnsafePointer<CChar>) -> Handle?
    let removeResourceTracker: @convention(c) (Handle) -> Handle?
    let releaseResourceTracker: @convention(c) (Handle) -> Void
    /// The native target's initialisers (`LLVMInitializeNativeTarget` is an inline function in the headers).
    let targetInitialisers: [@convention(c) () -> Void]

    /// Library names tried in order; `SLUICE_LLVM_LIBRARY` replaces them (an empty or missing file disables LLVM).
    static let candidates = [
        "libLLVM.so.19.1", "libLLVM-19.so.1", "libLLVM-19.so", "/usr/lib/llvm-19/lib/libLLVM.so.19.1",
        "/usr/lib/llvm-19/lib/libLLVM.so",
    ]

    /// What to tell a user whose machine has no usable LLVM.
    static let installHint = "install Debian's llvm-19 (apt-get install llvm-19-dev, or libllvm19 for the library alone)"

    private init(handle: UnsafeMutableRawPointer) throws(NativeError) {
        func symbol<T>(_ name: String, as _: T.Type) throws(NativeError) -> T {
            guard let address = dlsym(handle, name) else {
                throw NativeError("libLLVM has no symbol \(name): \(LLVMLibrary.installHint)")
            }
            return unsafeBitCast(address, to: T.self)
        }
        getErrorMessage = try symbol("LLVMGetErrorMessage", as: type(of: getErrorMessage))
        disposeErrorMessage = try symbol("LLVMDisposeErrorMessage", as: type(of: disposeErrorMessage))
        disposeMessage = try symbol("LLVMDisposeMessage", as: type(of: disposeMessage))
        createThreadSafeContext = try symbol("LLVMOrcCreateNewThreadSafeContext", as: type(of: createThreadSafeContext))
        threadSafeContextGetContext = try symbol(
            "LLVMOrcThreadSafeContextGetContext", as: type(of: threadSafeContextGetContext))
        disposeThreadSafeContext = try symbol("LLVMOrcDisposeThreadSafeContext", as: type(of: disposeThreadSafeContext))
        createMemoryBufferCopy = try symbol(
            "LLVMCreateMemoryBufferWithMemoryRangeCopy", as: type(of: createMemoryBufferCopy))
        parseIRInContext = try symbol("LLVMParseIRInContext", as: type(of: parseIRInContext))
        disposeModule = try symbol("LLVMDisposeModule", as: type(of: disposeModule))
        createPassBuilderOptions = try symbol("LLVMCreatePassBuilderOptions", as: type(of: createPassBuilderOptions))
        disposePassBuilderOptions = try symbol(
            "LLVMDisposePassBuilderOptions", as: type(of: disposePassBuilderOptions))
        runPasses = try symbol("LLVMRunPasses", as: type(of: runPasses))
        getTargetFromTriple = try symbol("LLVMGetTargetFromTriple", as: type(of: getTargetFromTriple))
        getHostCPUName = try symbol("LLVMGetHostCPUName", as: type(of: getHostCPUName))
        getHostCPUFeatures = try symbol("LLVMGetHostCPUFeatures", as: type(of: getHostCPUFeatures))
        createTargetMachine = try symbol("LLVMCreateTargetMachine", as: type(of: createTargetMachine))
        createLLJIT = try symbol("LLVMOrcCreateLLJIT", as: type(of: createLLJIT))
        getMainJITDylib = try symbol("LLVMOrcLLJITGetMainJITDylib", as: type(of: getMainJITDylib))
        getDataLayoutString = try symbol("LLVMOrcLLJITGetDataLayoutStr", as: type(of: getDataLayoutString))
        getTripleString = try symbol("LLVMOrcLLJITGetTripleString", as: type(of: getTripleString))
        createThreadSafeModule = try symbol("LLVMOrcCreateNewThreadSafeModule", as: type(of: createThreadSafeModule))
        createResourceTracker = try symbol(
            "LLVMOrcJITDylibCreateResourceTracker", as: type(of: createResourceTracker))
        addModuleWithTracker = try symbol("LLVMOrcLLJITAddLLVMIRModuleWithRT", as: type(of: addModuleWithTracker))
        lookup = try symbol("LLVMOrcLLJITLookup", as: type(of: lookup))
        removeResourceTracker = try symbol("LLVMOrcResourceTrackerRemove", as: type(of: removeResourceTracker))
        releaseResourceTracker = try symbol("LLVMOrcReleaseResourceTracker", as: type(of: releaseResourceTracker))
        #if arch(x86_64)
        let target = "X86"
        #elseif arch(arm64)
        let target = "AArch64"
        #else
        throw NativeError("the native tier supports x86-64 and arm64 hosts only")
        #endif
        var initialisers: [@convention(c) () -> Void] = []
        for part in ["TargetInfo", "Target", "TargetMC", "AsmPrinter"] {
            initialisers.append(try symbol("LLVMInitialize\(target)\(part)", as: (@convention(c) () -> Void).self))
        }
        targetInitialisers = initialisers
    }

    /// Loads libLLVM once per process; the error says what to install.
    static let shared: Result<LLVMLibrary, NativeError> = {
        var names = candidates
        if let override = getenv("SLUICE_LLVM_LIBRARY") { names = [String(cString: override)] }
        var tried: [String] = []
        for name in names where !name.isEmpty {
            if let handle = dlopen(name, RTLD_NOW | RTLD_LOCAL) {
                do throws(NativeError) {
                    let library = try LLVMLibrary(handle: handle)
                    for initialise in library.targetInitialisers { initialise() }
                    return .success(library)
                } catch { return .failure(error) }
            }
            tried.append(name)
        }
        return .failure(
            NativeError("the native engine needs LLVM 19 (tried \(tried.joined(separator: ", "))): \(installHint)"))
    }()

    /// The message of an `LLVMErrorRef` (consumed), or nil for success.
    func message(of error: Handle?) -> String? {
        guard let error else { return nil }
        guard let text = getErrorMessage(error) else { return "unknown LLVM error" }
        defer { disposeErrorMessage(text) }
        return String(cString: text)
    }
}
