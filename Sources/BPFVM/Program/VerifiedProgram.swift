/// A program the verifier accepted, with what it found out: the only way to a program that runs without bounds
/// checks. Only `Verifier` creates one, so `LoadedProgram(verified:)` and the unchecked entry point it gives
/// (`UncheckedEntry`) cannot be reached with a program that was not verified: that is a compile error, not a flag.
///
/// Reads of the entry program's report go through (`verified.stackDepth`, `verified.contextLoads`, …).
@dynamicMemberLookup
public struct VerifiedProgram: Sendable {
    public let spec: ProgramSpec
    /// The verifier's reports by program name: the entry program's, and after `Verifier.verifyWithSiblings` every
    /// sibling's. Only these programs may run unchecked.
    public let reports: [String: VerificationReport]

    init(spec: ProgramSpec, reports: [String: VerificationReport]) {
        precondition(reports[spec.name] != nil, "a verified program has its own report")
        self.spec = spec
        self.reports = reports
    }

    /// The entry program's report.
    public var report: VerificationReport { reports[spec.name].unsafelyUnwrapped }

    public subscript<T>(dynamicMember keyPath: KeyPath<VerificationReport, T>) -> T { report[keyPath: keyPath] }
}
