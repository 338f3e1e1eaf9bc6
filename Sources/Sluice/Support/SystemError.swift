#if canImport(Glibc)
import Glibc
#endif

/// A failed C or kernel call: the call's name and the errno it reported.
///
/// Every libc, libbpf and libxdp call is wrapped once, at the boundary, and turned into this error; nothing above the
/// wrappers sees raw return codes. libc reports `-1` + `errno`, libbpf/libxdp return `-errno`: `SystemError.check`
/// and `SystemError.checkNegative` handle the two conventions.
public struct SystemError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The C function or operation that failed, e.g. `"xsk_socket__create"`.
    public var call: String
    /// The errno value.
    public var errno: Int32
    /// Optional context: the interface, file or map the call was about.
    public var context: String?

    public init(call: String, errno: Int32, context: String? = nil) {
        self.call = call
        self.errno = errno
        self.context = context
    }

    /// The errno value, typed.
    public var code: Errno { Errno(rawValue: errno) }

    public init(call: String, code: Errno, context: String? = nil) {
        self.init(call: call, errno: code.rawValue, context: context)
    }

    public var description: String {
        let what = context.map { "\(call) (\($0))" } ?? call
        return "\(what): \(code) (errno \(errno))"
    }

    /// Runs a libc-style call (`-1` + `errno` on failure), retrying `EINTR`.
    @discardableResult
    public static func check<T: BinaryInteger>(
        _ call: String, context: String? = nil, _ body: () -> T
    ) throws(SystemError) -> T {
        while true {
            let result = body()
            if result >= 0 { return result }
            let code = Glibc.errno
            if code == EINTR { continue }
            throw SystemError(call: call, errno: code, context: context)
        }
    }

    /// Runs a libbpf/libxdp-style call (returns `-errno` on failure), retrying `-EINTR`.
    @discardableResult
    public static func checkNegative<T: SignedInteger>(
        _ call: String, context: String? = nil, _ body: () -> T
    ) throws(SystemError) -> T {
        while true {
            let result = body()
            if result >= 0 { return result }
            let code = Int32(truncatingIfNeeded: -result)
            if code == EINTR { continue }
            throw SystemError(call: call, errno: code, context: context)
        }
    }
}
