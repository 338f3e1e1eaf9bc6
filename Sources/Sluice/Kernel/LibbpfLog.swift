import CLibXDP
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Routes libbpf's process-wide print callback (`libbpf_set_print`) into a swift-log `Logger`, and collects what
/// libbpf says during one operation so that an error can quote it.
///
/// libbpf has a single callback for the whole process, so the destination is global state behind a mutex. An
/// operation that wants libbpf's messages runs inside `capturing(logger:_:)`; concurrent captures on different
/// threads each see every message printed while they run (libbpf does not say which object a message is about).
/// Levels map down one step, as libraries here log at info or below: WARN → info, INFO → debug, DEBUG → trace.
enum LibbpfLog {
    private struct State: ~Copyable {
        var installed = false
        var loggers: [Int: Logger] = [:]
        var captures: [Int: [String]] = [:]
        var nextToken = 0
    }

    private static let state = Mutex(State())

    /// Runs `body` with libbpf's messages going to `logger` and returns them along with `body`'s result.
    static func capturing<T>(logger: Logger, _ body: () throws -> T) rethrows -> (result: T, messages: [String]) {
        let token = state.withLock { state -> Int in
            if !state.installed {
                _ = libbpf_set_print(printCallback)
                state.installed = true
            }
            let token = state.nextToken
            state.nextToken += 1
            state.loggers[token] = logger
            state.captures[token] = []
            return token
        }
        defer {
            state.withLock { state in
                state.loggers[token] = nil
                state.captures[token] = nil
            }
        }
        let result = try body()
        let messages = state.withLock { $0.captures[token] ?? [] }
        return (result, messages)
    }

    fileprivate static func deliver(level: libbpf_print_level, message: String) {
        let loggers = state.withLock { state -> [Logger] in
            for token in state.captures.keys { state.captures[token]?.append(message) }
            return Array(state.loggers.values)
        }
        let swiftLevel: Logger.Level =
            switch level {
            case LIBBPF_WARN: .info
            case LIBBPF_INFO: .debug
            default: .trace
            }
        if loggers.isEmpty {
            // Outside a capture (e.g. libbpf printing from a destructor) there is no logger to hand; drop DEBUG
            // chatter and keep the rest on a default logger.
            if level != LIBBPF_DEBUG { Logger(label: "sluice.libbpf").log(level: swiftLevel, "\(message)") }
            return
        }
        for logger in loggers { logger.log(level: swiftLevel, "\(message)", metadata: ["source": "libbpf"]) }
    }
}

/// libbpf's `libbpf_print_fn_t`: formats the message and hands it to `LibbpfLog`.
private let printCallback: libbpf_print_fn_t = { level, format, arguments in
    guard let format, let arguments else { return 0 }
    let capacity = 16 * 1024
    let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: capacity)
    defer { buffer.deallocate() }
    let written = vsnprintf(buffer, capacity, format, arguments)
    var message = String(cString: buffer)
    while message.hasSuffix("\n") { message.removeLast() }
    if !message.isEmpty { LibbpfLog.deliver(level: level, message: message) }
    return written
}
