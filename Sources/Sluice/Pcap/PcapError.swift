/// Why a capture could not be read or written: the file, the record (0-based packet index) when one is to blame, and
/// what was wrong with it.
public struct PcapError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        /// The file does not start with a pcap or pcapng magic number (`nil`: the file is shorter than 4 bytes, or a
        /// pipe that libpcap found no magic number in).
        case notCapture(magic: UInt32?)
        /// The file ends in the middle of the file header (`record == nil`) or of a record.
        case truncated
        /// The capture's link type (the file's `LINKTYPE_` number) is not Ethernet; `canSynthesize`: the replay can
        /// put an Ethernet header in front (`--synthesize-ethernet`).
        case unsupportedLinkType(Int32, name: String, description: String?, canSynthesize: Bool)
        /// A record's captured length exceeds the capture's snapshot length (`length` when known).
        case recordLongerThanSnapshot(length: Int?, snapshotLength: Int)
        /// A record does not fit in the frame buffer the caller gave (`capacity` bytes after the headroom).
        case frameTooSmall(length: Int, capacity: Int)
        /// A timestamp that is negative or beyond what a classic pcap can hold (32-bit seconds, 2106-02-07).
        case timestampOutOfRange
        /// Anything else libpcap refused, with its message.
        case malformed(String)
        /// A failed system call (open, write, rename, …).
        case system(SystemError)
    }

    /// The capture file.
    public var path: String
    /// The 0-based index of the packet record at fault, `nil` when the file as a whole is.
    public var record: Int?
    public var kind: Kind

    public init(path: String, record: Int? = nil, kind: Kind) {
        self.path = path
        self.record = record
        self.kind = kind
    }

    public var description: String {
        let inRecord = record.map { " in record \($0)" } ?? ""
        let recordPrefix = record.map { "record \($0): " } ?? ""
        switch kind {
        case .notCapture(let magic?):
            return "\(path): not a pcap or pcapng file (magic number 0x\(String(magic, radix: 16)))"
        case .notCapture(nil):
            return "\(path): not a pcap or pcapng file"
        case .truncated:
            return record == nil
                ? "\(path): capture truncated in the file header" : "\(path): capture truncated\(inRecord)"
        case .unsupportedLinkType(let type, let name, let description, let canSynthesize):
            let what = description.map { "\(name), \($0)" } ?? name
            return "\(path): link type \(type) (\(what)) is not Ethernet; Sluice runs XDP programs on Ethernet frames"
                + (canSynthesize
                    ? " (--synthesize-ethernet puts an Ethernet header in front of each packet)"
                    : " and cannot convert this link type")
        case .recordLongerThanSnapshot(let length?, let snapshotLength):
            return
                "\(path): \(recordPrefix)captured length \(length) is longer than the snapshot length \(snapshotLength)"
        case .recordLongerThanSnapshot(nil, let snapshotLength):
            return "\(path): \(recordPrefix)captured length is longer than the snapshot length \(snapshotLength)"
        case .frameTooSmall(let length, let capacity):
            return
                "\(path): \(recordPrefix)\(length) bytes do not fit in the frame buffer (\(capacity) past the headroom)"
        case .timestampOutOfRange:
            return "\(path): \(recordPrefix)timestamp out of range (negative, or after 2106-02-07 06:28:15 UTC, the last "
                + "second a pcap file holds)"
        case .malformed(let message):
            return "\(path): \(recordPrefix)\(message)"
        case .system(let error):
            return "\(path): \(recordPrefix)\(error)"
        }
    }
}
