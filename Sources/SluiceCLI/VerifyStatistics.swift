import BPFVM
import Foundation
import Sluice

/// `sluice verify --stats`: Sluice's verification figures beside the kernel verifier's for the same program (the
/// summary line of its log, loaded through libbpf at `BPF_LOG_STATS`), so the two can be compared as ratios.
struct VerifyStatistics: Encodable {
    struct Figures: Encodable {
        var instructionsProcessed: Int
        /// States stored over the whole verification (the kernel's `total_states`).
        var statesTotal: Int
        /// The most states stored at once (`peak_states`).
        var statesPeak: Int
        var maxStatesPerInstruction: Int
        /// Sluice only: precision backtracking walks that gave up and made every ancestor state fully precise.
        var precisionFallbacks: Int?

        enum CodingKeys: String, CodingKey {
            case instructionsProcessed = "instructions_processed"
            case statesTotal = "states_total"
            case statesPeak = "states_peak"
            case maxStatesPerInstruction = "max_states_per_insn"
            case precisionFallbacks = "precision_fallbacks"
        }
    }

    var sluice: Figures
    var kernel: Figures?
    /// Why there is no kernel figure (not root, or the kernel refused the program); nil when there is one.
    var kernelError: String?

    enum CodingKeys: String, CodingKey {
        case sluice, kernel
        case kernelError = "kernel_error"
    }

    /// Every key is always present (null when it does not apply), as in the rest of the document.
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(sluice, forKey: .sluice)
        try c.encode(kernel, forKey: .kernel)
        try c.encode(kernelError, forKey: .kernelError)
    }

    init(report: VerificationReport, objectPath: String, program: String) {
        sluice = Figures(
            instructionsProcessed: report.instructionsProcessed, statesTotal: report.statesStored,
            statesPeak: report.peakStates, maxStatesPerInstruction: report.maxStatesPerInstruction,
            precisionFallbacks: report.precisionFallbacks)
        let missing = KernelPrivileges.missing()
        guard missing.isEmpty else {
            kernelError = "the kernel's figures need root (missing \(missing.joined(separator: ", ")))"
            return
        }
        do {
            let k = try KernelRunner.verifierStatistics(objectPath: objectPath, program: .function(program))
            kernel = Figures(
                instructionsProcessed: k.instructionsProcessed, statesTotal: k.totalStates, statesPeak: k.peakStates,
                maxStatesPerInstruction: k.maxStatesPerInstruction)
        } catch KernelRunnerError.loadRejected(_, _, let log) {
            let reason = log.split(separator: "\n").last { !$0.hasPrefix("processed ") && !$0.isEmpty } ?? ""
            kernelError = "the kernel's verifier refused the program: \(reason)"
        } catch {
            kernelError = "the kernel's figures are not available: \(error)"
        }
    }

    /// The side-by-side table `verify --stats` prints.
    var table: String {
        func ratio(_ a: Int, _ b: Int?) -> String {
            guard let b else { return "-" }
            if b == 0 { return a == 0 ? "1.00" : "inf" }
            return String(format: "%.2f", Double(a) / Double(b))
        }
        func row(_ name: String, _ a: Int, _ b: Int?) -> String {
            name.padding(toLength: 22, withPad: " ", startingAt: 0) + String(a).leftPadded(10)
                + (b.map { String($0) } ?? "-").leftPadded(10) + ratio(a, b).leftPadded(16)
        }
        var lines = [
            "".padding(toLength: 22, withPad: " ", startingAt: 0) + "Sluice".leftPadded(10) + "kernel".leftPadded(10)
                + "Sluice/kernel".leftPadded(16),
            row("instructions processed", sluice.instructionsProcessed, kernel?.instructionsProcessed),
            row("states stored (total)", sluice.statesTotal, kernel?.statesTotal),
            row("states stored (peak)", sluice.statesPeak, kernel?.statesPeak),
            row("max states per insn", sluice.maxStatesPerInstruction, kernel?.maxStatesPerInstruction),
        ]
        lines.append(
            "precision fallbacks".padding(toLength: 22, withPad: " ", startingAt: 0)
                + String(sluice.precisionFallbacks ?? 0).leftPadded(10))
        if let kernelError { lines.append("kernel: \(kernelError)") }
        return lines.joined(separator: "\n")
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? " " + self : String(repeating: " ", count: width - count) + self
    }
}
