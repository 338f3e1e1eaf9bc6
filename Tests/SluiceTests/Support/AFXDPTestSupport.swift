import Foundation
import Logging
import Sluice

/// What the live AF_XDP tests need from the machine, and why they skip when it is missing.
enum LiveTestEnvironment {
    /// Nil when live tests can run; otherwise the reason they skip.
    static let unavailableReason: String? = {
        if getuid() != 0 { return "live AF_XDP tests need root (network namespaces, XDP attach)" }
        let fd = socket(44, Int32(SOCK_RAW.rawValue), 0)  // AF_XDP
        if fd < 0 {
            return "this kernel has no AF_XDP sockets (socket(AF_XDP) failed: \(String(cString: strerror(errno))))"
        }
        close(fd)
        if access("/usr/bin/python3", X_OK) != 0 { return "the traffic senders need /usr/bin/python3" }
        return nil
    }()

    static var available: Bool { unavailableReason == nil }

    /// `programs/build/sluice_redirect.o`, compiled here when missing or older than its source.
    static let redirectProgram: String = program("sluice_redirect")

    /// `programs/build/NAME.o`, compiled (as programs/build.sh does for non-v4 programs) when missing or stale.
    static func program(_ name: String) -> String {
        let root = NetnsFixture.packageRoot
        let source = root + "/programs/\(name).c"
        let object = root + "/programs/build/\(name).o"
        let fm = FileManager.default
        let sourceDate = (try? fm.attributesOfItem(atPath: source)[.modificationDate] as? Date) ?? .distantPast
        let objectDate = (try? fm.attributesOfItem(atPath: object)[.modificationDate] as? Date) ?? nil
        if objectDate == nil || objectDate! < sourceDate {
            try? fm.createDirectory(atPath: root + "/programs/build", withIntermediateDirectories: true)
            let triple =
                (try? Shell.run(["gcc", "-dumpmachine"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines))
                ?? "x86_64-linux-gnu"
            // Written to a temporary name and renamed, so a concurrent reader never sees half an object.
            let temporary = object + ".tmp-\(getpid())"
            let built = try? Shell.run(
                [
                    "clang", "-O2", "-g", "-target", "bpf", "-mcpu=v3", "-I/usr/include/\(triple)",
                    "-c", source, "-o", temporary,
                ], timeoutSeconds: 60)
            if built?.status == 0 { rename(temporary, object) } else { unlink(temporary) }
        }
        return object
    }

    /// The `sluice-afxdp-probe` executable next to the test bundle.
    static var probe: String {
        var url = URL(fileURLWithPath: CommandLine.arguments.first ?? "")
        if !url.path.contains(".build") {
            url = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        }
        // …/.build/<triple>/debug/SluicePackageTests.xctest → …/.build/<triple>/debug/sluice-afxdp-probe
        while url.pathComponents.count > 1 {
            let candidate = url.deletingLastPathComponent().appendingPathComponent("sluice-afxdp-probe")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate.path }
            url.deleteLastPathComponent()
        }
        return NetnsFixture.packageRoot + "/.build/debug/sluice-afxdp-probe"
    }

    static func logger() -> Logger {
        var logger = Logger(label: "sluice.tests.afxdp")
        logger.logLevel = .warning
        return logger
    }

    static func configuration(_ interface: String) -> LiveConfiguration {
        var configuration = LiveConfiguration(interface: interface)
        configuration.redirectProgramPath = redirectProgram
        configuration.pollTimeoutMilliseconds = 20
        // Small UMEMs: tests move a handful of frames.
        configuration.socket.umem = UMEMConfiguration(
            frameSize: 4096, frameCount: 1024, fillSize: 512, completionSize: 512)
        configuration.socket.rxSize = 512
        configuration.socket.txSize = 512
        return configuration
    }
}

/// Traffic generators, run inside a namespace with Debian's python3 (no scapy needed). Bounded in count and time.
enum Traffic {
    /// argv: DEST_ADDR PORT COUNT [flows|sport=N]. Sends COUNT UDP datagrams "sluice-N", 20 ms apart; with `flows`,
    /// each from a new socket (a new source port, so a new flow hash and possibly another queue); with `sport=N`
    /// from source port N.
    static let udpSender = """
        import socket, sys, time
        dst, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
        flows = len(sys.argv) > 4 and sys.argv[4] == 'flows'
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if len(sys.argv) > 4 and sys.argv[4].startswith('sport='):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(('0.0.0.0', int(sys.argv[4][6:])))
        for i in range(n):
            if flows:
                s.close()
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.sendto(b'sluice-%d' % i, (dst, port))
            time.sleep(0.02)
        print(n)
        """

    /// argv: DEST_ADDR COUNT. ICMP echo with a raw socket; prints how many valid replies (right id, sequence,
    /// payload and checksum) came back within 1 s each.
    static let pinger = """
        import os, socket, struct, sys, time
        dst, n = sys.argv[1], int(sys.argv[2])
        def csum(b):
            if len(b) % 2: b += b'\\0'
            s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
            while s >> 16: s = (s & 0xffff) + (s >> 16)
            return (~s) & 0xffff
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        s.settimeout(1.0)
        ident = os.getpid() & 0xffff
        ok = 0
        for seq in range(n):
            payload = b'sluice-ping-%d' % seq
            hdr = struct.pack('!BBHHH', 8, 0, 0, ident, seq)
            pkt = struct.pack('!BBHHH', 8, 0, csum(hdr + payload), ident, seq) + payload
            s.sendto(pkt, (dst, 0))
            deadline = time.time() + 1.0
            while time.time() < deadline:
                try:
                    data, addr = s.recvfrom(2048)
                except socket.timeout:
                    break
                ihl = (data[0] & 15) * 4
                icmp = data[ihl:]
                t, code, _, i, sq = struct.unpack('!BBHHH', icmp[:8])
                if t == 0 and i == ident and sq == seq and addr[0] == dst and icmp[8:] == payload and csum(icmp) == 0:
                    ok += 1
                    break
        print(ok)
        """

    /// argv: ADDR PORT. Accepts one TCP connection (10 s limit), echoes what it reads, exits.
    static let tcpEchoServer = """
        import socket, sys
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((sys.argv[1], int(sys.argv[2])))
        srv.listen(1)
        srv.settimeout(10)
        print('LISTENING', flush=True)
        conn, _ = srv.accept()
        conn.settimeout(5)
        conn.sendall(conn.recv(1024))
        conn.close()
        """

    /// argv: ADDR PORT MESSAGE. Connects (5 s limit), sends MESSAGE, prints the reply.
    static let tcpClient = """
        import socket, sys
        c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
        c.sendall(sys.argv[3].encode())
        print(c.recv(1024).decode())
        c.close()
        """

    /// argv: IFACE SECONDS MARKER. Counts frames on IFACE (AF_PACKET) containing MARKER for SECONDS; prints the count.
    static let frameCounter = """
        import socket, sys, time
        iface, seconds, marker = sys.argv[1], float(sys.argv[2]), sys.argv[3].encode()
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
        s.bind((iface, 0))
        s.settimeout(0.1)
        print('LISTENING', flush=True)
        end = time.time() + seconds
        n = 0
        while time.time() < end:
            try:
                frame = s.recv(4096)
            except socket.timeout:
                continue
            if marker in frame:
                n += 1
        print(n)
        """
}

extension Array where Element == UInt8 {
    var macString: String { map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":") }
}
