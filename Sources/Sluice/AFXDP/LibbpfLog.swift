#if canImport(Glibc)
import Glibc
#endif
import CLibXDP
import Logging
import Synchronization

/// Routes libbpf's and libxdp's diagnostic output (normally written to stderr) into a swift-log `Logger`.
///
/// The C print callback cannot capture context, so the logger lives in a global; the last `install` wins.
/// libbpf warnings become `.warning`, info `.info`, debug `.trace` (libbpf's debug output is very chatty).
public enum LibbpfLog {
    private static let current = Mutex<Logger?>(nil)

    /// Installs `logger` as the destination of libbpf's and libxdp's print callbacks.
    public static func install(_ logger: Logger) {
        current.withLock { $0 = logger }
        _ = libbpf_set_print(libbpfPrint)
        _ = libxdp_set_print(libxdpPrint)
    }

    static func emit(level: Logger.Level, library: String, format: UnsafePointer<CChar>?, args: CVaListPointer) {
        guard let format, let logger = current.withLock({ $0 }) else { return }
        guard logger.logLevel <= level else { return }
        var buffer = [CChar](repeating: 0, count: 1024)
        let written = buffer.withUnsafeMutableBufferPointer { vsnprintf($0.baseAddress, $0.count, format, args) }
        guard written > 0 else { return }
        var text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        while text.last == "\n" { text.removeLast() }
        // The library name is metadata; drop the prefix the libraries put on most lines.
        if text.hasPrefix(library + ": ") { text.removeFirst(library.count + 2) }
        logger.log(level: level, "\(text)", metadata: ["library": "\(library)"])
    }
}

private func libbpfPrint(level: libbpf_print_level, format: UnsafePointer<CChar>?, args: CVaListPointer?) -> Int32 {
    guard let args else { return 0 }
    let mapped: Logger.Level =
        switch level {
        case LIBBPF_WARN: .warning
        case LIBBPF_INFO: .info
        default: .trace
        }
    LibbpfLog.emit(level: mapped, library: "libbpf", format: format, args: args)
    return 0
}

private func libxdpPrint(level: libxdp_print_level, format: UnsafePointer<CChar>?, args: CVaListPointer?) -> Int32 {
    guard let args else { return 0 }
    let mapped: Logger.Level =
        switch level {
        case LIBXDP_WARN: .warning
        case LIBXDP_INFO: .info
        default: .trace
        }
    LibbpfLog.emit(level: mapped, library: "libxdp", format: format, args: args)
    return 0
}
