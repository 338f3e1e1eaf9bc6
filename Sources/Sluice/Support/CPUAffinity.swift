import CLibXDP
#if canImport(Glibc)
import Glibc
#endif

/// Pins the calling thread to one CPU, so that per-CPU map slots written by the kernel's test run land on a known
/// CPU (the one Sluice's VM reports as `bpf_get_smp_processor_id`).
public enum CPUAffinity {
    /// Pins to the first CPU this process may run on; returns its number (0 if the mask cannot be read).
    @discardableResult
    public static func pinToFirstCPU() -> Int {
        var set = cpu_set_t()
        guard sched_getaffinity(0, MemoryLayout<cpu_set_t>.size, &set) == 0 else { return 0 }
        let words = MemoryLayout<cpu_set_t>.size / MemoryLayout<UInt>.size
        let first: Int? = withUnsafeBytes(of: &set) { raw in
            let bits = raw.bindMemory(to: UInt.self)
            for w in 0..<words where bits[w] != 0 { return w * UInt.bitWidth + bits[w].trailingZeroBitCount }
            return nil
        }
        guard let cpu = first else { return 0 }
        var only = cpu_set_t()
        withUnsafeMutableBytes(of: &only) { raw in
            raw.bindMemory(to: UInt.self)[cpu / UInt.bitWidth] = 1 << UInt(cpu % UInt.bitWidth)
        }
        _ = sched_setaffinity(0, MemoryLayout<cpu_set_t>.size, &only)
        return cpu
    }
}
