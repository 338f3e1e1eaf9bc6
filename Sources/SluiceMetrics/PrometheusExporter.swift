import CoreMetrics
import Prometheus
import Sluice
import Synchronization

/// The live run's statistics as Prometheus text, through swift-metrics backed by swift-prometheus.
///
/// The engine keeps its own counters (plain integers published once per batch); nothing here runs per packet. At
/// each scrape the exporter takes one snapshot, adds the difference since the previous scrape to swift-metrics
/// counters (so Prometheus sees monotonic `_total` counters), sets the gauges (rates since the previous scrape,
/// the program generation), and renders the registry. Scrapes are serialised by a lock.
///
/// Metric names (labels `interface`, `queue`; `verdict` is aborted, drop, pass, tx, redirect):
/// `sluice_rx_packets_total`, `sluice_rx_bytes_total`, `sluice_verdict_packets_total{verdict}`,
/// `sluice_verdict_bytes_total{verdict}`, `sluice_verdict_rate_packets_per_second{verdict}` (gauge),
/// `sluice_pass_dropped_total`, `sluice_pass_to_tap_total`, `sluice_tx_dropped_total`, `sluice_tx_completed_total`,
/// `sluice_budget_exceeded_total`, `sluice_socket_errors_total{kind}` (the socket's XDP_STATISTICS: rx_dropped,
/// rx_invalid_descs, rx_ring_full, fill_ring_empty, tx_invalid_descs, tx_ring_empty); per run:
/// `sluice_reloads_total`, `sluice_program_generation` (gauge), `sluice_program_processed_total{generation,program}`,
/// and the histogram `sluice_program_run_seconds` (sampled run times).
public final class PrometheusExporter: Sendable {
    public typealias Source = @Sendable () -> ControlStats

    private struct State: ~Copyable {
        var counters: [String: CoreMetrics.Counter] = [:]
        var gauges: [String: Meter] = [:]
        /// The value each counter had at the previous scrape.
        var last: [String: UInt64] = [:]
        var lastSnapshot: ControlStats?
    }

    private let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private let source: Source
    private let state = Mutex(State())

    public init(source: @escaping Source) {
        self.source = source
        factory = PrometheusMetricsFactory(registry: registry)
    }

    /// One scrape: snapshot, update, render.
    public func render() -> String {
        let stats = source()
        return state.withLock { state in
            update(&state, stats)
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return String(decoding: buffer, as: UTF8.self) + Self.runTimeText(stats)
        }
    }

    /// `sluice_program_run_seconds`, a Prometheus histogram of the sampled program run times (`RunTimeHistogram`),
    /// written out directly: the engine keeps bucket counts, not observations.
    static func runTimeText(_ stats: ControlStats) -> String {
        guard let h = stats.runTime else { return "" }
        let label = "interface=\"\(stats.interface)\""
        var text = "# HELP sluice_program_run_seconds Program run time per frame, one frame in \(h.sampleEvery) timed.\n"
        text += "# TYPE sluice_program_run_seconds histogram\n"
        var cumulative: UInt64 = 0
        for (i, bound) in h.boundsNanos.enumerated() {
            cumulative &+= h.counts[i]
            text += "sluice_program_run_seconds_bucket{\(label),le=\"\(Double(bound) / 1e9)\"} \(cumulative)\n"
        }
        text += "sluice_program_run_seconds_bucket{\(label),le=\"+Inf\"} \(h.samples)\n"
        text += "sluice_program_run_seconds_sum{\(label)} \(Double(h.sumNanos) / 1e9)\n"
        text += "sluice_program_run_seconds_count{\(label)} \(h.samples)\n"
        return text
    }

    private func count(_ state: inout State, _ name: String, _ labels: [(String, String)], _ value: UInt64) {
        let key = name + "|" + labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
        let counter =
            state.counters[key]
            ?? {
                let made = CoreMetrics.Counter(label: name, dimensions: labels, factory: factory)
                state.counters[key] = made
                return made
            }()
        let previous = state.last[key] ?? 0
        // Counters only grow; a snapshot is never behind the previous one, but guard against it anyway.
        if value > previous { counter.increment(by: Int64(clamping: value - previous)) }
        state.last[key] = max(value, previous)
    }

    private func gauge(_ state: inout State, _ name: String, _ labels: [(String, String)], _ value: Double) {
        let key = name + "|" + labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
        let meter =
            state.gauges[key]
            ?? {
                let made = Meter(label: name, dimensions: labels, factory: factory)
                state.gauges[key] = made
                return made
            }()
        meter.set(value)
    }

    private func update(_ state: inout State, _ stats: ControlStats) {
        let previous = state.lastSnapshot
        let seconds =
            previous.map { Double(stats.live.monotonicNanos &- $0.live.monotonicNanos) / 1e9 } ?? 0
        for (index, queue) in stats.live.queues.enumerated() {
            let labels = [("interface", queue.interface), ("queue", String(queue.queue))]
            let c = queue.counters
            count(&state, "sluice_rx_packets_total", labels, c.rx.packets)
            count(&state, "sluice_rx_bytes_total", labels, c.rx.bytes)
            for action in XDPAction.allCases {
                let verdict = labels + [("verdict", "\(action)")]
                count(&state, "sluice_verdict_packets_total", verdict, c[action].packets)
                count(&state, "sluice_verdict_bytes_total", verdict, c[action].bytes)
                var rate = 0.0
                if let previous, seconds > 0, previous.live.queues.indices.contains(index) {
                    let before = previous.live.queues[index].counters[action].packets
                    rate = Double(c[action].packets &- min(before, c[action].packets)) / seconds
                }
                gauge(&state, "sluice_verdict_rate_packets_per_second", verdict, rate)
            }
            count(&state, "sluice_pass_dropped_total", labels, c.passDropped)
            count(&state, "sluice_pass_to_tap_total", labels, c.passReinjected)
            count(&state, "sluice_tx_dropped_total", labels, c.txDropped)
            count(&state, "sluice_tx_completed_total", labels, c.txCompleted)
            count(&state, "sluice_budget_exceeded_total", labels, c.budgetExceeded)
            if let s = queue.socket {
                let kinds: [(String, UInt64)] = [
                    ("rx_dropped", s.rxDropped), ("rx_invalid_descs", s.rxInvalidDescriptors),
                    ("rx_ring_full", s.rxRingFull), ("fill_ring_empty", s.rxFillRingEmpty),
                    ("tx_invalid_descs", s.txInvalidDescriptors), ("tx_ring_empty", s.txRingEmpty),
                ]
                for (kind, value) in kinds {
                    count(&state, "sluice_socket_errors_total", labels + [("kind", kind)], value)
                }
            }
        }
        let run = [("interface", stats.interface)]
        count(&state, "sluice_reloads_total", run, stats.reloads)
        gauge(&state, "sluice_program_generation", run, Double(stats.generation))
        for g in stats.generations {
            count(
                &state, "sluice_program_processed_total",
                run + [("generation", String(g.generation)), ("program", g.program)], g.processed)
        }
        state.lastSnapshot = stats
    }
}
