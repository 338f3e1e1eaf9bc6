import Foundation
import Sluice

extension LiveStatsReport {
    /// Per-interval rates between two snapshots, as xdp-bench prints them: packets per second per verdict and the
    /// receive bit rate, per queue and in total.
    static func rateLines(from previous: LiveStats, to current: LiveStats) -> [String] {
        let seconds = Double(current.monotonicNanos &- previous.monotonicNanos) / 1e9
        guard seconds > 0 else { return [] }
        func line(_ label: String, _ now: QueueCounters, _ before: QueueCounters) -> String {
            func rate(_ a: UInt64, _ b: UInt64) -> Double { Double(a &- min(a, b)) / seconds }
            var text =
                "  \(label) rate over \(String(format: "%.2f", seconds)) s: rx "
                + Self.pps(rate(now.rx.packets, before.rx.packets))
                + String(format: " (%.1f Mbit/s)", rate(now.rx.bytes, before.rx.bytes) * 8 / 1e6)
            for action in XDPAction.allCases {
                text += ", \(action) " + Self.pps(rate(now[action].packets, before[action].packets))
            }
            return text
        }
        var lines: [String] = []
        for queue in current.queues {
            guard let old = previous.queues.first(where: { $0.interface == queue.interface && $0.queue == queue.queue })
            else { continue }
            lines.append(line("\(queue.interface) queue \(queue.queue)", queue.counters, old.counters))
        }
        if current.queues.count > 1 { lines.append(line("total", current.total, previous.total)) }
        return lines
    }

    static func pps(_ value: Double) -> String {
        value >= 1e6 ? String(format: "%.2f Mpps", value / 1e6) : String(format: "%.0f pps", value)
    }
}
