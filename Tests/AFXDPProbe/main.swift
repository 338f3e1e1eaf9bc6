import Logging
import Sluice

// sluice-afxdp-probe: runs the live AF_XDP engine with a frame-counting processor in its own process, for the tests
// that need one (SIGKILL leaves nothing attached, missing capabilities, persist + restart). Not a user tool: the
// `sluice run` command is.
//
//   sluice-afxdp-probe attach IFACE [--persist] [--mode auto|native|skb] [--seconds N] [--program PATH]
//   sluice-afxdp-probe detach IFACE
//
// Prints `READY link=ID prog=ID mode=M bind=B reused=0|1` once attached and bound, `STATS rx=N drop=N` at the end;
// errors go to stderr as `error: …` with exit status 1. SIGTERM/SIGINT stop it cleanly.
#if canImport(Glibc)
    import Glibc
#endif

/// Drops everything, counting frames.
struct CountingDropper: FrameProcessor {
    var frames = 0
    mutating func process(_ frame: inout Frame) -> UInt64 {
        frames += 1
        return UInt64(XDPAction.drop.rawValue)
    }
    var redirectTarget: RedirectTarget? { nil }
}

func fail(_ message: String) -> Never {
    let line = Array("error: \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(1)
}

func attach(_ arguments: [String]) -> Int32 {
    guard let iface = arguments.first else { fail("attach needs an interface name") }
    var configuration = LiveConfiguration(interface: iface)
    var seconds = 3600.0
    var rest = arguments.dropFirst()
    while let option = rest.popFirst() {
        switch option {
        case "--persist": configuration.persist = true
        case "--mode":
            guard let value = rest.popFirst(), let mode = XDPAttachMode(rawValue: value) else { fail("bad --mode") }
            configuration.mode = mode
        case "--seconds":
            guard let value = rest.popFirst(), let s = Double(value) else { fail("bad --seconds") }
            seconds = s
        case "--program":
            guard let value = rest.popFirst() else { fail("bad --program") }
            configuration.redirectProgramPath = value
        default: fail("unknown option \(option)")
        }
    }
    var logger = Logger(label: "sluice-afxdp-probe")
    logger.logLevel = .warning
    let engine: LiveEngine<CountingDropper>
    do {
        engine = try LiveEngine(configuration: configuration, logger: logger) { _ in CountingDropper() }
    } catch {
        fail(error.description)
    }
    // Unblock first: a parent (e.g. a test runner thread) may have left them blocked, and the mask survives exec;
    // then let the engine's signal thread take them.
    var unblock = sigset_t()
    sigemptyset(&unblock)
    sigaddset(&unblock, SIGTERM)
    sigaddset(&unblock, SIGINT)
    pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
    engine.stopSignal.stopOnSignals()
    let attachment = engine.attachments[0]
    print(
        "READY link=\(attachment.linkID) prog=\(attachment.programID) mode=\(attachment.attachedMode?.rawValue ?? "pinned")"
            + " bind=\(engine.sockets[0].bindMode.rawValue) reused=\(attachment.reusedPinned ? 1 : 0)")
    fflush(nil)
    let stats: LiveStats
    do {
        stats = try engine.run(duration: .milliseconds(Int(seconds * 1000)))
    } catch {
        engine.close()
        fail(error.description)
    }
    let frames = engine.processors.map(\.frames).reduce(0, +)
    engine.close()
    print("STATS rx=\(stats.total.rx.packets) drop=\(stats.total.drop.packets) frames=\(frames)")
    for reason in stats.endReasons { print("ENDED \(reason)") }
    fflush(nil)
    return 0
}

let arguments = Array(CommandLine.arguments.dropFirst())
switch arguments.first {
case "attach":
    exit(attach(Array(arguments.dropFirst())))
case "detach":
    guard arguments.count == 2 else { fail("detach needs an interface name") }
    do {
        try RedirectAttachment.detach(interface: arguments[1])
    } catch {
        fail(error.description)
    }
    print("DETACHED \(arguments[1])")
default:
    fail("usage: sluice-afxdp-probe attach IFACE [--persist] [--mode M] [--seconds N] [--program PATH] | detach IFACE")
}
