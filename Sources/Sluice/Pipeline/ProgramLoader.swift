import BPFVM

/// Loads a program for running: verifies it when asked (then it runs without bounds checks) or marks it for checked
/// execution.
public enum ProgramLoader {
    public struct Loaded {
        public var program: LoadedProgram
        /// Run with every memory access bounds-checked (unverified programs).
        public var checked: Bool
    }

    public static func load(_ spec: ProgramSpec, possibleCPUs: Int, verify: Bool) throws -> Loaded {
        // Until the verifier lands, every program runs in checked mode: safe, and the same results.
        let program = try LoadedProgram(spec, options: LoadedProgram.Options(possibleCPUs: possibleCPUs))
        return Loaded(program: program, checked: true)
    }
}
