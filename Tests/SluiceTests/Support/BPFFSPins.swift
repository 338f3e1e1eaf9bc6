import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Pins other tools leave under bpffs (iproute2's `globals` directories, xdp-filter's pinned maps): a test notes
/// which of `paths` exist before it runs those tools and, in `defer`, removes the ones that appeared. `paths` is
/// in removal order (files and inner directories before the directories holding them).
struct BPFFSPins {
    let paths: [String]
    private let existing: Set<String>

    init(_ paths: [String]) {
        self.paths = paths
        existing = Set(paths.filter { FileManager.default.fileExists(atPath: $0) })
    }

    func removeNew() {
        for path in paths where !existing.contains(path) { _ = remove(path) }
    }

    /// iproute2's pin directories (`ip link set … obj`, `tc`).
    static let iproute2 = [
        "/sys/fs/bpf/tc/globals", "/sys/fs/bpf/tc", "/sys/fs/bpf/ip", "/sys/fs/bpf/xdp/globals", "/sys/fs/bpf/xdp",
    ]
    /// xdp-filter's pinned maps and program directory (left pinned after `xdp-filter unload`).
    static let xdpFilter = [
        "/sys/fs/bpf/filter_ports", "/sys/fs/bpf/filter_ipv4", "/sys/fs/bpf/filter_ipv6", "/sys/fs/bpf/filter_ethernet",
        "/sys/fs/bpf/xdp_stats_map", "/sys/fs/bpf/xdp-filter/programs", "/sys/fs/bpf/xdp-filter",
    ]
}
