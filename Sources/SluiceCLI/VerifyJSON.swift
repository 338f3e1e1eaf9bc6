import BPFVM
import Foundation
import Sluice

/// `sluice verify --json`: one JSON document for scripts, whatever the outcome. The schema is documented in
/// docs/verify-json.md and versioned (`version`); fields are only ever added, never renamed or removed, within a
/// version. Exit status: 0 accepted, 1 refused, 2 not verified at all (the object or program could not be read).
struct VerifyJSONDocument: Encodable {
    static let version = 1

    struct Location: Encodable {
        var file: String
        var line: Int
        var column: Int
        var text: String?
    }

    struct Refusal: Encodable {
        /// The function refused: the entry program or one of its tail-call targets.
        var program: String
        var instructionIndex: Int
        var instruction: String
        var source: Location?
        var registers: String?
        /// Sluice's explanation.
        var message: String
        /// The kernel verifier's message for the same refusal, word for word; nil where Sluice has none.
        var kernelReason: String?
    }

    struct Target: Encodable {
        var program: String
        var instructionsProcessed: Int
        var statesStored: Int
        var warnings: [String]
    }

    var object: String
    var program: String?
    var section: String?
    var accepted = false
    var instructions: Int?
    var instructionsProcessed: Int?
    var statesStored: Int?
    var statesPruned: Int?
    var stackDepth: Int?
    var milliseconds: Double?
    var warnings: [String] = []
    var tailCallTargets: [Target] = []
    var refusal: Refusal?
    /// Why nothing was verified (unreadable object, no such program); nil otherwise.
    var error: String?
    /// `--stats`: Sluice's figures beside the kernel's; nil without `--stats` or when refused.
    var stats: VerifyStatistics?

    enum CodingKeys: String, CodingKey {
        case version, object, program, section, accepted, instructions
        case instructionsProcessed = "instructions_processed", statesStored = "states_stored"
        case statesPruned = "states_pruned", stackDepth = "stack_depth", milliseconds, warnings
        case tailCallTargets = "tail_call_targets", refusal, error, stats
    }

    /// Every key is always present (null when it does not apply), so scripts need not test for missing keys.
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Self.version, forKey: .version)
        try c.encode(object, forKey: .object)
        try c.encode(program, forKey: .program)
        try c.encode(section, forKey: .section)
        try c.encode(accepted, forKey: .accepted)
        try c.encode(instructions, forKey: .instructions)
        try c.encode(instructionsProcessed, forKey: .instructionsProcessed)
        try c.encode(statesStored, forKey: .statesStored)
        try c.encode(statesPruned, forKey: .statesPruned)
        try c.encode(stackDepth, forKey: .stackDepth)
        try c.encode(milliseconds, forKey: .milliseconds)
        try c.encode(warnings, forKey: .warnings)
        try c.encode(tailCallTargets, forKey: .tailCallTargets)
        try c.encode(refusal, forKey: .refusal)
        try c.encode(error, forKey: .error)
        try c.encode(stats, forKey: .stats)
    }

    /// Verifies and describes the outcome; `exitCode` is what the command exits with.
    static func make(
        object: String, program: String?, section: String?, statistics: Bool = false
    ) -> (document: Self, exitCode: Int32) {
        var document = VerifyJSONDocument(object: object)
        let spec: ProgramSpec
        do { spec = try ProgramSource.open(objectPath: object, program: program, section: section).spec } catch {
            document.program = program
            document.section = section
            document.error = "\(error)"
            return (document, 2)
        }
        document.program = spec.name
        document.section = spec.section
        document.instructions = spec.instructions.count
        let start = ContinuousClock.now
        let verified: VerifiedProgram
        do { verified = try Verifier().verifyWithSiblings(spec) } catch {
            document.refusal = Refusal(error, entry: spec.name)
            return (document, 1)
        }
        let elapsed = ContinuousClock.now - start
        let report = verified.report
        document.accepted = true
        document.instructionsProcessed = report.instructionsProcessed
        document.statesStored = report.statesStored
        document.statesPruned = report.statesPruned
        document.stackDepth = report.stackDepth
        document.milliseconds = (Double(elapsed.components.attoseconds) / 1e15
            + Double(elapsed.components.seconds) * 1000)
        document.warnings = report.warnings
        if statistics { document.stats = VerifyStatistics(report: report, objectPath: object, program: spec.name) }
        document.tailCallTargets = verified.reports.sorted { $0.key < $1.key }.filter { $0.key != spec.name }.map {
            Target(
                program: $0.key, instructionsProcessed: $0.value.instructionsProcessed,
                statesStored: $0.value.statesStored, warnings: $0.value.warnings)
        }
        return (document, 0)
    }

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}

extension VerifyJSONDocument.Refusal {
    init(_ error: VerifierError, entry: String) {
        program = error.programName.isEmpty ? entry : error.programName
        instructionIndex = error.instructionIndex
        instruction = error.instruction
        source = error.source.map {
            VerifyJSONDocument.Location(file: $0.file, line: $0.line, column: $0.column, text: $0.text)
        }
        registers = error.registerState
        message = error.reason
        kernelReason = Self.kernelReason(of: error)
    }

    /// The kernel's words, where the verifier records them (`VerifierError.kernelReason`, added with the refusal
    /// classes); read by name so that this file builds with and without that field.
    static func kernelReason(of error: VerifierError) -> String? {
        for child in Mirror(reflecting: error).children where child.label == "kernelReason" {
            if let text = child.value as? String? { return text }
        }
        return nil
    }
}
