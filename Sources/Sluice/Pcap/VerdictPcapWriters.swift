#if canImport(Glibc)
import Glibc
#endif

/// The replay's capture outputs: one pcap per verdict in a directory (`pass.pcap`, `tx.pcap`, `redirect.pcap`,
/// `drop.pcap`, `aborted.pcap`), each frame as the program left it, at its original timestamp.
///
/// All five files are always written (an empty one holds just the header), so a directory's contents depend only on
/// the inputs. Each is written atomically: until `close()` succeeds, only `NAME.pcap.tmp` files exist. With
/// `format: .pcapng` the files are `NAME.pcapng` and each packet carries comments (`PacketAnnotation`).
public struct VerdictPcapWriters: ~Copyable {
    private var aborted: PcapWriter
    private var drop: PcapWriter
    private var pass: PcapWriter
    private var tx: PcapWriter
    private var redirect: PcapWriter

    /// The file name used for `action`'s frames.
    public static func fileName(for action: XDPAction, format: CaptureFormat) -> String {
        "\(action.description).\(format.fileExtension)"
    }

    /// The classic-pcap file name used for `action`'s frames.
    public static func fileName(for action: XDPAction) -> String { fileName(for: action, format: .pcap) }

    /// Creates `directory` if it does not exist (one level) and the five files in it.
    public init(directory: String, format: CaptureFormat = .pcap) throws(PcapError) {
        if mkdir(directory, 0o755) != 0 && Errno.current != .exists {
            throw PcapError(
                path: directory, kind: .system(SystemError(call: "mkdir", errno: Errno.current.rawValue, context: directory)))
        }
        func open(_ action: XDPAction) throws(PcapError) -> PcapWriter {
            try PcapWriter(path: directory + "/" + Self.fileName(for: action, format: format), format: format)
        }
        let aborted = try open(.aborted)
        let drop = try open(.drop)
        let pass = try open(.pass)
        let tx = try open(.tx)
        let redirect = try open(.redirect)
        self.aborted = aborted
        self.drop = drop
        self.pass = pass
        self.tx = tx
        self.redirect = redirect
    }

    /// Appends the frame's packet bytes to the file for `action`.
    public mutating func write(_ frame: Frame, action: XDPAction) throws(PcapError) {
        switch action {
        case .aborted: try aborted.write(frame)
        case .drop: try drop.write(frame)
        case .pass: try pass.write(frame)
        case .tx: try tx.write(frame)
        case .redirect: try redirect.write(frame)
        }
    }

    /// Appends packet bytes (e.g. a frame plus the part beyond the linear buffer) to the file for `action`.
    public mutating func write(
        _ packet: UnsafeRawBufferPointer, timestampNanos: UInt64, action: XDPAction,
        annotation: PacketAnnotation? = nil
    ) throws(PcapError) {
        switch action {
        case .aborted: try aborted.write(packet, timestampNanos: timestampNanos, annotation: annotation)
        case .drop: try drop.write(packet, timestampNanos: timestampNanos, annotation: annotation)
        case .pass: try pass.write(packet, timestampNanos: timestampNanos, annotation: annotation)
        case .tx: try tx.write(packet, timestampNanos: timestampNanos, annotation: annotation)
        case .redirect: try redirect.write(packet, timestampNanos: timestampNanos, annotation: annotation)
        }
    }

    /// Records written per verdict so far.
    public func recordCount(_ action: XDPAction) -> Int {
        switch action {
        case .aborted: aborted.recordCount
        case .drop: drop.recordCount
        case .pass: pass.recordCount
        case .tx: tx.recordCount
        case .redirect: redirect.recordCount
        }
    }

    /// Closes every file (all of them, even after a failure) and reports the first failure.
    public consuming func close() throws(PcapError) {
        var firstError: PcapError? = nil
        do { try aborted.close() } catch { firstError = firstError ?? error }
        do { try drop.close() } catch { firstError = firstError ?? error }
        do { try pass.close() } catch { firstError = firstError ?? error }
        do { try tx.close() } catch { firstError = firstError ?? error }
        do { try redirect.close() } catch { firstError = firstError ?? error }
        if let firstError { throw firstError }
    }
}
