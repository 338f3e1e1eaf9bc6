import CLibXDP

#if canImport(Glibc)
    import Glibc
#endif

/// What Sluice needs to know about a network interface: its index, queue count and MAC address.
public struct InterfaceInfo: Hashable, Sendable {
    public var name: String
    /// `if_nametoindex(name)`.
    public var ifindex: UInt32
    /// Number of RX queues (`/sys/class/net/NAME/queues/rx-*`); at least 1.
    public var rxQueueCount: Int
    /// The interface's MAC address (6 bytes), or nil when it has none.
    public var macAddress: [UInt8]?

    /// Looks the interface up; throws `AFXDPError.interfaceNotFound` naming it when it does not exist.
    public init(name: String) throws(AFXDPError) {
        guard !name.isEmpty, name.utf8.count < Int(IF_NAMESIZE) else { throw .interfaceNotFound(name) }
        let index = if_nametoindex(name)
        guard index != 0 else { throw .interfaceNotFound(name) }
        self.name = name
        self.ifindex = index
        self.rxQueueCount = Self.countRXQueues(name)
        self.macAddress = Self.readMAC(name)
    }

    /// True while an interface with this name and index still exists.
    public var exists: Bool { if_nametoindex(name) == ifindex }

    static func countRXQueues(_ name: String) -> Int {
        guard let dir = opendir("/sys/class/net/\(name)/queues") else { return 1 }
        defer { closedir(dir) }
        var count = 0
        while let entry = readdir(dir) {
            let entryName = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if entryName.hasPrefix("rx-") { count += 1 }
        }
        return max(count, 1)
    }

    static func readMAC(_ name: String) -> [UInt8]? {
        guard let text = readSmallFile("/sys/class/net/\(name)/address") else { return nil }
        let parts = text.split(separator: "\n").first?.split(separator: ":") ?? []
        let bytes = parts.compactMap { UInt8($0, radix: 16) }
        return bytes.count == 6 ? bytes : nil
    }
}
