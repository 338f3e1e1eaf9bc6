#if canImport(Glibc)
    import Glibc
#endif

/// An errno value, typed (as swift-system's `Errno`): the one place Sluice reads the C `errno` and turns codes into
/// text. Everything above the C-call wrappers (`SystemError.check`, the AF_XDP and kernel layers) speaks `Errno`;
/// only `description` calls `strerror`.
public struct Errno: RawRepresentable, Error, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The calling thread's `errno`, as the last failed C call left it.
    @inline(__always)
    public static var current: Errno { Errno(rawValue: Glibc.errno) }

    /// From a libbpf/libxdp-style result: `-errno` on failure.
    public init(negated result: some SignedInteger) { rawValue = Int32(truncatingIfNeeded: 0 - Int64(result)) }

    /// The C library's message (`strerror`).
    public var description: String { String(cString: strerror(rawValue)) }

    public static let notPermitted = Errno(rawValue: EPERM)
    public static let noEntry = Errno(rawValue: ENOENT)
    public static let interrupted = Errno(rawValue: EINTR)
    public static let ioError = Errno(rawValue: EIO)
    public static let noSuchDeviceOrAddress = Errno(rawValue: ENXIO)
    public static let resourceTemporarilyUnavailable = Errno(rawValue: EAGAIN)
    public static let busy = Errno(rawValue: EBUSY)
    public static let exists = Errno(rawValue: EEXIST)
    public static let noDevice = Errno(rawValue: ENODEV)
    public static let isDirectory = Errno(rawValue: EISDIR)
    public static let invalidArgument = Errno(rawValue: EINVAL)
    public static let tooManySymbolicLinks = Errno(rawValue: ELOOP)
    public static let noLink = Errno(rawValue: ENOLINK)
    public static let notSupported = Errno(rawValue: EOPNOTSUPP)
    public static let noBufferSpace = Errno(rawValue: ENOBUFS)
    public static let networkDown = Errno(rawValue: ENETDOWN)

    /// The interface behind a socket is gone or down (what an AF_XDP worker reads as "interface vanished").
    public var meansInterfaceGone: Bool { self == .networkDown || self == .noSuchDeviceOrAddress || self == .noDevice }
}
