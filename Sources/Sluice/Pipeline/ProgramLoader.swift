import BPFVM

/// Loads a program for running: verified (then it runs without bounds checks, with the verifier's context rewrite),
/// or unverified (`--no-verify`: every memory access bounds-checked at run time).
public enum ProgramLoader {
    public struct Loaded {
        public var program: LoadedProgram
        /// Runs with every memory access bounds-checked (unverified programs): the program has no `uncheckedEntry`.
        public var checked: Bool { program.uncheckedEntry == nil }
        /// The verifier's reports by program name (entry and tail-call targets); empty when not verified.
        public var reports: [String: VerificationReport]
    }

    public static func load(_ spec: ProgramSpec, possibleCPUs: Int, verify: Bool) throws -> Loaded {
        let options = LoadedProgram.Options(possibleCPUs: possibleCPUs)
        guard verify else { return Loaded(program: try LoadedProgram(spec, options: options), reports: [:]) }
        let verified = try Verifier().verifyWithSiblings(spec)
        return Loaded(program: try LoadedProgram(verified: verified, options: options), reports: verified.reports)
    }
}
