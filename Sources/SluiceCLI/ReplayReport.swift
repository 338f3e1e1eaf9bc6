import Sluice

#if canImport(Glibc)
import Glibc
#endif

/// Writes to standard error (summaries, progress), leaving standard output to data.
enum StandardError {
    static func write(_ text: String) {
        var line = text
        line.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(2, buffer.baseAddress! + offset, buffer.count - offset)
                if n <= 0 { break }
                offset += n
            }
        }
    }
}

/// A one-line progress display on a terminal (nothing when stderr is not a terminal).
final class ProgressLine {
    let enabled: Bool
    let start = Replay.monotonicNanosecondsNow()
    var shown = false

    init(enabled: Bool) {
        self.enabled = enabled
    }

    /// A bar and an ETA from the bytes read of the capture, when its size is known.
    func update(_ progress: Replay.Progress) {
        guard enabled else { return }
        let elapsed = Double(Replay.monotonicNanosecondsNow() - start) / 1e9
        let rate = elapsed > 0 ? Double(progress.packets) / elapsed : 0
        var line = "\r\(progress.packets) packets, \(Int(rate)) packets/s"
        if let read = progress.bytesRead, let total = progress.totalBytes, total > 0, read > 0 {
            let fraction = min(1, Double(read) / Double(total))
            let width = 30
            let done = Int(fraction * Double(width))
            line += " [" + String(repeating: "#", count: done) + String(repeating: " ", count: width - done) + "]"
            line += " \(Int(fraction * 100))%, ETA \(Int(elapsed / fraction - elapsed))s"
        }
        StandardError.write(line + "\u{1b}[K")
        shown = true
    }

    func finish() {
        if shown { StandardError.write("\r\u{1b}[K") }
        shown = false
    }
}

enum ReplayReport {
    static func print(_ summary: Replay.Summary, againstKernel: Bool) {
        var lines: [String] = []
        let counts = XDPAction.allCases.map { "\($0): \(summary.counts[$0] ?? 0)" }.joined(separator: ", ")
        if let signal = summary.stoppedBySignal {
            let name = signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "signal \(signal)"
            lines.append("interrupted by \(name): the summary and the outputs cover the first \(summary.packets) packets")
        }
        lines.append("\(summary.packets) packets (\(counts))")
        if summary.filtered > 0 {
            lines.append("filtered out: \(summary.filtered) (did not match --filter: not run, passed through unchanged)")
        }
        if summary.refused > 0 {
            lines.append(
                "\(summary.refused) refused: shorter than an Ethernet header (or zero-length), as the kernel's test run refuses them")
        }
        if summary.oversized > 0 {
            lines.append("\(summary.oversized) longer than the kernel's linear XDP buffer: the program saw the first 3520 bytes")
        }
        if summary.truncatedRecords > 0 {
            lines.append("\(summary.truncatedRecords) records captured shorter than they were on the wire")
        }
        if summary.budgetExceeded > 0 {
            lines.append(
                "\(summary.budgetExceeded) packets went past the instruction budget of \(summary.budget) "
                    + "(ended as XDP_ABORTED; --budget sets it)")
        }
        let otherFaults = summary.faults - summary.budgetExceeded
        if otherFaults > 0 { lines.append("\(otherFaults) runs faulted (counted as aborted)") }
        let rate = Int(summary.packetsPerSecond)
        lines.append("\(rate) packets/s, engine \(summary.engine.rawValue)")
        if let note = summary.engineNote { lines.append("(the interpreter ran: \(note))") }
        if againstKernel {
            if summary.differenceCount == 0 {
                lines.append("against the kernel: no differences")
            } else {
                lines.append("against the kernel: \(summary.differenceCount) differences; first ones:")
                lines.append(contentsOf: summary.differences.map { "  " + $0 })
            }
            if summary.byDesignCount > 0 {
                lines.append("\(summary.byDesignCount) map entries differ by design (time stamps), not counted:")
                lines.append(contentsOf: summary.byDesignDifferences.map { "  " + $0 })
            }
            if let hint = summary.mapHint { lines.append("hint: " + hint) }
            if summary.ignoredEntries > 0 {
                lines.append("\(summary.ignoredEntries) map entries left out (--ignore-map, --ignore-key)")
            }
        }
        StandardError.write(lines.joined(separator: "\n") + "\n")
    }
}
