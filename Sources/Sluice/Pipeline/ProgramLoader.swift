import BPFNative
import BPFVM

/// Loads a program for running: verified (then it runs without bounds checks, with the verifier's context rewrite,
/// interpreted or compiled to native code), or unverified (`--engine checked`: every memory access bounds-checked at
/// run time).
public enum ProgramLoader {
    public struct Loaded {
        public var program: LoadedProgram
        /// Runs with every memory access bounds-checked (unverified programs): the program has no `uncheckedEntry`.
        public var checked: Bool { program.uncheckedEntry == nil }
        /// The verifier's reports by program name (entry and tail-call targets); empty when not verified.
        public var reports: [String: VerificationReport]
        /// The engine the program runs on.
        public var engine: Engine = .interpreter
        /// Native compile time of the entry program and its tail-call targets, in nanoseconds (native engine only).
        public var compileNanoseconds: UInt64 = 0
        /// Why `auto` chose the interpreter (LLVM missing, or a program the native tier cannot compile).
        public var engineNote: String?
    }

    public struct Error: Swift.Error, CustomStringConvertible {
        public var description: String
    }

    public static func load(_ spec: ProgramSpec, possibleCPUs: Int, verify: Bool) throws -> Loaded {
        try load(spec, possibleCPUs: possibleCPUs, engine: verify ? .interpreter : .checked)
    }

    /// Loads, verifies (except for `checked`) and, for `native`/`auto`, compiles every program of the object (the
    /// entry and its tail-call targets, so tail calls stay native). Compiled code is cached on the programs.
    /// `reusableMaps`: maps of a running program this one replaces (live reload); compatible ones are shared.
    public static func load(
        _ spec: ProgramSpec, possibleCPUs: Int, engine choice: EngineChoice, reusableMaps: [BPFMap] = []
    ) throws -> Loaded {
        guard choice != .checked else {
            let options = LoadedProgram.Options(possibleCPUs: possibleCPUs, reusableMaps: reusableMaps)
            return Loaded(program: try LoadedProgram(spec, options: options), reports: [:], engine: .checked)
        }
        return try load(
            verified: try Verifier().verifyWithSiblings(spec), possibleCPUs: possibleCPUs, engine: choice,
            reusableMaps: reusableMaps)
    }

    /// The same for a program the caller has verified already (`sluice verify --stats` measures the native compile
    /// of the program it just verified, without verifying it again). `choice` must not be `checked`.
    public static func load(
        verified: VerifiedProgram, possibleCPUs: Int, engine choice: EngineChoice, reusableMaps: [BPFMap] = []
    ) throws -> Loaded {
        precondition(choice != .checked, "a verified program runs unchecked")
        let options = LoadedProgram.Options(possibleCPUs: possibleCPUs, reusableMaps: reusableMaps)
        let program = try LoadedProgram(verified: verified, options: options)
        var loaded = Loaded(program: program, reports: verified.reports, engine: .interpreter)
        guard choice == .native || choice == .auto else { return loaded }
        if let reason = NativeCompiler.unavailableReason {
            if choice == .native { throw Error(description: "--engine native: \(reason)") }
            loaded.engineNote = reason
            return loaded
        }
        do {
            var total: UInt64 = 0
            // Every sibling first: a tail call resolves to the target's native entry at run time.
            for (name, executable) in program.siblings.sorted(by: { $0.key < $1.key }) {
                do { total += try NativeCompiler.code(for: executable).compileNanos } catch {
                    throw Error(description: "--engine native: program \(name.isEmpty ? "(entry)" : name): \(error)")
                }
            }
            _ = try NativeCompiler.code(for: program.executable)
            loaded.engine = .native
            loaded.compileNanoseconds = total
        } catch let error as Error {
            if choice == .native { throw error }
            loaded.engineNote = error.description
        }
        return loaded
    }
}
