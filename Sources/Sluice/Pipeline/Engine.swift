import BPFNative
import BPFVM

/// What `--engine` asks for.
public enum EngineChoice: String, Sendable, CaseIterable {
    /// Native code when LLVM 19 is available, otherwise the interpreter.
    case auto
    /// Verified, compiled to machine code with LLVM (BPFNative); an error if LLVM is missing.
    case native
    /// Verified, run by the interpreter without bounds checks.
    case interpreter
    /// Unverified, every memory access bounds-checked at run time (what `--no-verify` was).
    case checked
}

/// The engine a program actually runs on (printed and in JSON outputs).
public enum Engine: String, Sendable, Codable, CaseIterable {
    case native, interpreter, checked
}
