import CLibXDP

/// Pins the calling thread to one CPU, so that per-CPU map slots written by the kernel's test run land on a known
/// CPU (the one Sluice's VM reports as `bpf_get_smp_processor_id`).
public enum CPUAffinity {
    /// Pins to the first CPU this thread may run on; returns its number (0 if the mask cannot be read).
    @discardableResult
    public static func pinToFirstCPU() -> Int {
        var mask = [UInt64](repeating: 0, count: 16)  // 1024 CPUs
        let size = UInt(mask.count * 8)
        let read = mask.withUnsafeMutableBytes { sluice_sched_getaffinity(size, $0.baseAddress) }
        guard read > 0, let word = mask.firstIndex(where: { $0 != 0 }) else { return 0 }
        let cpu = word * 64 + mask[word].trailingZeroBitCount
        var only = [UInt64](repeating: 0, count: 16)
        only[word] = 1 << UInt64(cpu % 64)
        _ = only.withUnsafeBytes { sluice_sched_setaffinity(size, $0.baseAddress) }
        return cpu
    }
}
