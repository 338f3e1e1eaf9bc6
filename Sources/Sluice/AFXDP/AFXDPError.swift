/// Why the live AF_XDP layer could not start or had to stop, in words that say what to do about it.
public enum AFXDPError: Error, Hashable, Sendable, CustomStringConvertible {
    /// No interface of that name exists (in this network namespace).
    case interfaceNotFound(String)
    /// The process lacks capabilities the live engine needs, named as `CAP_…`.
    case missingCapabilities([String])
    /// The requested queue does not exist on the interface.
    case queueOutOfRange(interface: String, queue: UInt32, queueCount: Int)
    /// The kernel-side redirect program object could not be found or opened.
    case redirectProgramUnavailable(path: String, reason: String)
    /// A map or program the redirect object must contain is missing.
    case redirectProgramIncomplete(path: String, missing: String)
    /// Attaching failed in every mode tried; each entry is "mode: error".
    case attachFailed(interface: String, attempts: [String])
    /// Something other than Sluice's redirect program is attached, or a non-persistent Sluice holds the interface.
    case interfaceBusy(interface: String, detail: String)
    /// Nothing pinned for the interface under bpffs (for `detach`).
    case notPersisted(interface: String, path: String)
    /// `--multiprog` was asked for (or a dispatcher is there) but libxdp's dispatcher cannot be used.
    case multiprogUnavailable(interface: String, detail: String)
    /// `--zero-copy` was required but the driver cannot do it (veth never can).
    case zeroCopyUnavailable(interface: String, queue: UInt32, reason: String)
    /// A configuration value is out of range.
    case invalidConfiguration(String)
    /// A failed C or kernel call.
    case system(SystemError)

    public var description: String {
        switch self {
        case .interfaceNotFound(let name):
            return "interface '\(name)' does not exist (ip -br link lists the interfaces)"
        case .missingCapabilities(let caps):
            return "missing capabilities \(caps.joined(separator: ", ")): run as root or grant them "
                + "(e.g. setcap cap_net_admin,cap_net_raw,cap_bpf,cap_ipc_lock+ep)"
        case .queueOutOfRange(let iface, let queue, let count):
            return
                "interface '\(iface)' has \(count) RX queue(s) (0...\(max(count - 1, 0))); queue \(queue) does not exist"
        case .redirectProgramUnavailable(let path, let reason):
            return "redirect program \(path): \(reason) (build it with programs/build.sh)"
        case .redirectProgramIncomplete(let path, let missing):
            return "redirect program \(path) has no \(missing)"
        case .attachFailed(let iface, let attempts):
            return "could not attach the redirect program to '\(iface)': \(attempts.joined(separator: "; "))"
        case .interfaceBusy(let iface, let detail):
            return "interface '\(iface)' is busy: \(detail)"
        case .multiprogUnavailable(let iface, let detail):
            return "cannot share '\(iface)' through libxdp's dispatcher (multiprog): \(detail)"
        case .notPersisted(let iface, let path):
            return "no persistent Sluice redirect on '\(iface)' (nothing pinned at \(path))"
        case .zeroCopyUnavailable(let iface, let queue, let reason):
            return "zero-copy is not available on '\(iface)' queue \(queue) (\(reason)); use copy mode or auto"
        case .invalidConfiguration(let text):
            return "invalid configuration: \(text)"
        case .system(let error):
            return error.description
        }
    }
}

extension AFXDPError {
    /// Runs a throwing-`SystemError` body, wrapping its error.
    @inline(__always)
    static func wrap<T>(_ body: () throws(SystemError) -> T) throws(AFXDPError) -> T {
        do { return try body() } catch { throw .system(error) }
    }
}
