import BPFVM

/// Loads a program for running: verified (then it runs without bounds checks, with the verifier's context rewrite),
/// or unverified (`--no-verify`: every memory access bounds-checked at run time).
public enum ProgramLoader {
    public struct Loaded {
        public var program: LoadedProgram
        /// Run with every memory access bounds-checked (unverified programs).
        public var checked: Bool
        /// The verifier's reports by program name (entry and tail-call targets); empty when not verified.
        public var reports: [String: VerificationReport]
    }

    public static func load(_ spec: ProgramSpec, possibleCPUs: Int, verify: Bool) throws -> Loaded {
        let options = LoadedProgram.Options(possibleCPUs: possibleCPUs)
        guard verify else {
            return Loaded(program: try LoadedProgram(spec, options: options), checked: true, reports: [:])
        }
        let reports = try Verifier().verifyWithSiblings(spec)
        let program = try LoadedProgram(spec, options: options, contextLoads: reports.mapValues(\.contextLoads))
        return Loaded(program: program, checked: false, reports: reports)
    }
}
