/// Why the verifier refused a program: where, what the instruction was, what the register involved held, and why —
/// enough to fix the source without reading the verifier.
public struct VerifierError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The program (function) being verified.
    public var programName: String
    /// Slot index of the failing instruction (the kernel's instruction index).
    public var instructionIndex: Int
    /// The instruction in assembler syntax.
    public var instruction: String
    /// The C source position and text, from BTF line info.
    public var source: SourceLocation?
    /// The register the error is about and its state, e.g. `R3 = pointer to packet (offset 34, 34 bytes proven)`.
    public var registerState: String?
    /// One line, e.g. `R3 pointer to packet, offset 34, size 2: outside the 34 bytes proven by the check at …`.
    public var reason: String
    /// The 6.18 kernel verifier's message for the same refusal, word for word (e.g. `R1 leaks addr into map`), so
    /// the log line a user may have seen from the kernel can be searched for; nil where Sluice's reason is its own.
    public var kernelReason: String?

    public init(
        programName: String = "", instructionIndex: Int, instruction: String, source: SourceLocation? = nil,
        registerState: String? = nil, reason: String, kernelReason: String? = nil
    ) {
        self.programName = programName
        self.instructionIndex = instructionIndex
        self.instruction = instruction
        self.source = source
        self.registerState = registerState
        self.reason = reason
        self.kernelReason = kernelReason
    }

    public var description: String {
        let prefix = programName.isEmpty ? "" : "\(programName), "
        var lines = ["\(prefix)instruction \(instructionIndex): \(instruction)"]
        if let source {
            var line = "  at \(source)"
            if let text = source.text?.trimmingSpaces, !text.isEmpty { line += ": \(text)" }
            lines.append(line)
        }
        if let registerState { lines.append("  \(registerState)") }
        lines.append("error: \(reason)")
        if let kernelReason { lines.append("kernel: \(kernelReason)") }
        return lines.joined(separator: "\n")
    }
}

/// What the verifier found out about an accepted program.
public struct VerificationReport: Hashable, Sendable {
    /// Loads from `struct xdp_md` by instruction index, for the translator's context rewrite
    /// (`TranslationContext.contextLoads`).
    public var contextLoads: [Int: ContextField]
    /// Instructions the verifier processed (each visit on each path counts, as in the kernel's log).
    public var instructionsProcessed: Int
    /// States stored at prune points.
    public var statesStored: Int
    /// Paths cut short because a stored state already covered them.
    public var statesPruned: Int
    /// The most paths waiting to be explored at once.
    public var peakPendingStates: Int
    /// The most stored states kept for comparison at once (the kernel's `peak_states`; `statesStored` is its
    /// `total_states`).
    public var peakStates = 0
    /// The most stored states one prune point compared a path against (the kernel's `max_states_per_insn`).
    public var maxStatesPerInstruction = 0
    /// Precision backtracking walks that could not follow the path (a call between frames, …) and marked every
    /// scalar of the ancestor states precise instead.
    public var precisionFallbacks = 0
    /// Deepest stack use of the deepest call chain, in bytes (each frame rounded up as the kernel does).
    public var stackDepth: Int
    /// Things the kernel accepts but that are probably mistakes (e.g. a return value outside XDP's verdicts).
    public var warnings: [String]
}

extension StringProtocol {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
