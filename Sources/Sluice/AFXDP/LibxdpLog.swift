import CLibXDP
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Routes libxdp's diagnostic output (normally written to stderr) into a swift-log `Logger`. libbpf's output goes
/// through `LibbpfLog` (Kernel/), which the redirect-program loader uses with the engine's logger.
///
/// The C print callback cannot capture context, so the logger lives in a global; the last `install` wins.
/// Levels map down one step, as in `LibbpfLog`: WARN → info, INFO → debug, DEBUG → trace.
enum LibxdpLog {
    private static let current = Mutex<Logger?>(nil)

    static func install(_ logger: Logger) {
        current.withLock { $0 = logger }
        _ = libxdp_set_print(libxdpPrint)
    }

    fileprivate static func emit(level: libxdp_print_level, format: UnsafePointer<CChar>, args: CVaListPointer) {
        guard let logger = current.withLock({ $0 }) else { return }
        let mapped: Logger.Level =
            switch level {
            case LIBXDP_WARN: .info
            case LIBXDP_INFO: .debug
            default: .trace
            }
        guard logger.logLevel <= mapped else { return }
        var buffer = [CChar](repeating: 0, count: 1024)
        let written = buffer.withUnsafeMutableBufferPointer { vsnprintf($0.baseAddress, $0.count, format, args) }
        guard written > 0 else { return }
        var text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        while text.last == "\n" { text.removeLast() }
        logger.log(level: mapped, "\(text)", metadata: ["source": "libxdp"])
    }
}

private func libxdpPrint(level: libxdp_print_level, format: UnsafePointer<CChar>?, args: CVaListPointer?) -> Int32 {
    guard let format, let args else { return 0 }
    LibxdpLog.emit(level: level, format: format, args: args)
    return 0
}
