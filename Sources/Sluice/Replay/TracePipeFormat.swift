/// The kernel's trace_pipe line for a `bpf_trace_printk` event (kernel/trace/trace_output.c, the default
/// `print-parent`-less, `irq-info` format):
///
///     "%16s-%-7d [%03d] %s %5lu.%06lu: bpf_trace_printk: %s"
///
/// with the task's comm and pid, the CPU, the latency flags (`.....` when none apply) and the time in seconds and
/// microseconds.
public enum TracePipeFormat {
    public static func line(task: String, pid: Int, cpu: Int, timestampNanos: UInt64, message: String) -> String {
        let comm = String(repeating: " ", count: max(0, 16 - task.count)) + task
        let pidText = String(pid)
        let pidField = pidText + String(repeating: " ", count: max(0, 7 - pidText.count))
        let cpuText = String(cpu)
        let cpuField = String(repeating: "0", count: max(0, 3 - cpuText.count)) + cpuText
        let seconds = String(timestampNanos / 1_000_000_000)
        let micros = String((timestampNanos % 1_000_000_000) / 1000)
        let secondsField = String(repeating: " ", count: max(0, 5 - seconds.count)) + seconds
        let microsField = String(repeating: "0", count: max(0, 6 - micros.count)) + micros
        return "\(comm)-\(pidField) [\(cpuField)] ..... \(secondsField).\(microsField): bpf_trace_printk: \(message)"
    }

    /// The message of a trace_pipe line (what follows `bpf_trace_printk: `), or nil for other events.
    public static func message(ofLine line: String) -> String? {
        let marker = Array(": bpf_trace_printk: ".utf8)
        let bytes = Array(line.utf8)
        guard bytes.count >= marker.count else { return nil }
        for start in 0...(bytes.count - marker.count) where Array(bytes[start..<start + marker.count]) == marker {
            return String(decoding: bytes[(start + marker.count)...], as: UTF8.self)
        }
        return nil
    }
}
