/// What the native tier (BPFNative, LLVM) needs from the VM without the VM knowing about LLVM: the compiled code's
/// owner kept alive by the program, its entry in the program's `CodeHandle` for tail calls, and the tail-call
/// resolution as a C-ABI function the generated code calls.
public enum NativeHooks {
    /// `(environment, prog_array map, index) -> native entry of the slot's program, or nil`; counts the tail call.
    public typealias TailCallTarget = @convention(c) (UnsafeMutableRawPointer?, UInt64, UInt64) -> UnsafeRawPointer?

    /// Resolves `bpf_tail_call` as the interpreter does (limit, map type, index, empty slot). A slot whose program
    /// has no native code fails the call; the native engine compiles every program of an object, so that happens
    /// only when native and interpreted programs are mixed deliberately.
    public static let tailCallTarget: TailCallTarget = { environment, map, index in
        guard let environment else { return nil }
        let env = environment.assumingMemoryBound(to: ExecutionEnvironment.self)
        guard let handle = BPFVM.tailCallTarget(map, index, env), let native = handle.pointee.native else { return nil }
        env.pointee.tailCallCount += 1
        return native
    }
}

extension ExecutableProgram {
    /// The native code compiled for this program (an opaque owner; nil until compiled). Compile once per load: the
    /// program keeps its code for as long as it lives.
    public var nativeCode: AnyObject? { nativeOwner }

    /// Attaches compiled code: `owner` keeps it alive, `entry` is what tail calls into this program jump to.
    public func attachNative(entry: UnsafeRawPointer, owner: AnyObject) {
        nativeOwner = owner
        handleStorage.pointee.native = entry
    }
}
