import Foundation
import Logging
import Testing

@testable import Sluice

/// The live AF_XDP layer on real veth pairs: every test makes its own namespace (name includes the PID), sends a
/// bounded amount of traffic from inside it, and removes everything in `defer`.
@Suite(.serialized, .enabled(if: LiveTestEnvironment.available, "\(LiveTestEnvironment.unavailableReason ?? "")"))
struct AFXDPLiveTests {
    let logger = LiveTestEnvironment.logger()

    @Test func framesSentFromTheNamespaceReachTheProcessor() throws {
        let net = try NetnsFixture(tag: "rx")
        defer { net.destroy() }
        let engine = try LiveEngine(configuration: LiveTestEnvironment.configuration(net.hostInterface), logger: logger)
        {
            _ in UDPPortCounter(port: 9999)
        }
        defer { engine.close() }
        try engine.start()
        let sent = try net.python(Traffic.udpSender, [net.hostAddress, "9999", "12"])
        #expect(sent.status == 0, "sender failed: \(sent.stderr)")
        let stats = try engine.run(duration: .milliseconds(300))
        let counter = try #require(engine.processors.first)
        #expect(counter.matched == 12)
        #expect(counter.other == 0, "ARP should have gone to the kernel, IPv6 is off: nothing else expected")
        #expect(stats.total.drop.packets == 12)
        #expect(stats.total.rx.packets == 12)
        #expect(stats.endReasons.isEmpty)
        #expect(stats.queues.count == 1 && stats.queues[0].socket != nil)
        // The sender's ARP request went to the stack in the kernel program, counted there.
        let kernelPass = try #require(stats.kernelPass.first)
        #expect(kernelPass.byEtherType >= 1)
        #expect(kernelPass.noSocket == 0)
    }

    @Test(arguments: [XDPAttachMode.auto, .native, .skb])
    func icmpEchoResponderInSwiftAnswersPingThroughXDPTX(mode: XDPAttachMode) throws {
        let net = try NetnsFixture(tag: "tx")
        defer { net.destroy() }
        var configuration = LiveTestEnvironment.configuration(net.hostInterface)
        configuration.mode = mode
        let engine = try LiveEngine(configuration: configuration, logger: logger) { _ in ICMPEchoResponder() }
        defer { engine.close() }
        // veth has native XDP, so auto needs no fallback.
        #expect(engine.attachments[0].attachedMode == (mode == .skb ? .skb : .native))
        #expect(
            try Shell.run(["ip", "link", "show", "dev", net.hostInterface]).stdout
                .contains(mode == .skb ? "xdpgeneric" : "prog/xdp"))
        try engine.start()
        let ping = try net.python(Traffic.pinger, [net.hostAddress, "5"])
        let stats = try engine.run(duration: .milliseconds(200))
        #expect(
            ping.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "5", "replies: \(ping.stdout) \(ping.stderr)"
        )
        #expect(engine.processors.first?.replies == 5)
        #expect(stats.total.tx.packets == 5)
        #expect(stats.total.txCompleted == 5)
        #expect(stats.total.txDropped == 0)
    }

    /// The issue's acceptance case: programs/icmp_echo.c, unmodified, in Sluice's VM behind the live engine.
    @Test func icmpEchoProgramInTheVMAnswers20PingsThroughXDPTX() throws {
        let net = try NetnsFixture(tag: "vm")
        defer { net.destroy() }
        let opened = try ProgramSource.open(objectPath: LiveTestEnvironment.program("icmp_echo"))
        let loaded = try ProgramLoader.load(opened.spec, possibleCPUs: 1, verify: true)
        let runner = ProgramRunner(program: loaded.program)
        try withExtendedLifetime(runner) {
            let engine = try LiveEngine(
                configuration: LiveTestEnvironment.configuration(net.hostInterface),
                logger: logger
            ) { _ in runner.processor }
            defer { engine.close() }
            try engine.start()
            let ping = try net.python(Traffic.pinger, [net.hostAddress, "20"], timeoutSeconds: 40)
            let stats = try engine.run(duration: .milliseconds(200))
            #expect(
                ping.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "20", "\(ping.stdout) \(ping.stderr)")
            #expect(stats.total.tx.packets == 20)
            #expect(stats.total.txCompleted == 20)
            #expect(stats.total.aborted.packets == 0)
            #expect(engine.processors.first?.faults == 0)
        }
    }

    @Test func passFramesAreReinjectedThroughTheTapDevice() throws {
        let net = try NetnsFixture(tag: "tp")
        defer { net.destroy() }
        let tapName = "sxtap\(getpid() % 1_000_000)"
        var configuration = LiveTestEnvironment.configuration(net.hostInterface)
        configuration.passToTap = tapName
        let engine = try LiveEngine(configuration: configuration, logger: logger) { _ in ConstantVerdict(action: .pass)
        }
        defer { engine.close() }
        try engine.start()
        #expect(InterfaceInfo.exists(tapName))
        let before = try Self.rxPackets(tapName)
        _ = try net.python(Traffic.udpSender, [net.hostAddress, "7777", "6"])
        let stats = try engine.run(duration: .milliseconds(300))
        #expect(stats.total.pass.packets == 6)
        #expect(stats.total.passReinjected == 6)
        #expect(try Self.rxPackets(tapName) - before == 6)
        engine.close()
        #expect(!InterfaceInfo.exists(tapName), "the TAP device goes away with the engine")
    }

    /// The issue's firewall case with a Swift firewall: UDP to the blocked port is dropped and counted, ARP is passed
    /// by the kernel program, and a TCP connection works with its frames reinjected through the TAP device.
    @Test func firewallDropsBlockedUDPWhileTCPWorksThroughTheTap() throws {
        let net = try NetnsFixture(tag: "fw")
        defer { net.destroy() }
        var configuration = LiveTestEnvironment.configuration(net.hostInterface)
        configuration.passToTap = "sxfw\(getpid() % 1_000_000)"
        let engine = try LiveEngine(configuration: configuration, logger: logger) { _ in
            UDPPortFirewall(blockedPort: 7000)
        }
        defer { engine.close() }
        try engine.start()
        let port = String(20000 + Int(getpid() % 20000))
        let server = try Shell.start(["/usr/bin/python3", "-c", Traffic.tcpEchoServer, net.hostAddress, port])
        defer { if server.process.isRunning { server.process.terminate() } }
        #expect(server.waitForOutput("LISTENING", timeoutSeconds: 10))
        let client = try net.python(Traffic.tcpClient, [net.hostAddress, port, "hello-through-sluice"])
        _ = server.finish()
        _ = try net.python(Traffic.udpSender, [net.hostAddress, "7000", "5"])
        let stats = try engine.run(duration: .milliseconds(300))
        #expect(
            client.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "hello-through-sluice",
            "client: \(client.stdout) \(client.stderr)")
        #expect(engine.processors.first?.blocked == 5)
        #expect(stats.total.drop.packets == 5)
        #expect(stats.total.passReinjected >= 4, "SYN, ACK, data, FIN at least: \(stats.total.passReinjected)")
        #expect(stats.total.passDropped == 0)
        #expect((stats.kernelPass.first?.byEtherType ?? 0) >= 1, "ARP answered by the kernel without user space")
    }

    /// The same acceptance case with the example firewall (programs/firewall.c) running in the VM: UDP to a port in
    /// its `blocked_ports` map is dropped and counted by the program, ARP stays in the kernel, TCP works via the TAP.
    @Test func firewallProgramInTheVMDropsBlockedUDPWhileTCPWorks() throws {
        let net = try NetnsFixture(tag: "fv")
        defer { net.destroy() }
        // blocked_ports: key __u16 port in host order (7000 = 0x1b58), value 1.
        let opened = try ProgramSource.open(
            objectPath: LiveTestEnvironment.program("firewall"), mapsJSON: Array(#"{"blocked_ports": {"581b": "01"}}"#.utf8))
        let loaded = try ProgramLoader.load(opened.spec, possibleCPUs: 1, verify: true)
        try opened.source.state.apply(to: loaded.program)
        let runner = ProgramRunner(program: loaded.program)
        var configuration = LiveTestEnvironment.configuration(net.hostInterface)
        configuration.passToTap = "sxfv\(getpid() % 1_000_000)"
        try withExtendedLifetime(runner) {
            let engine = try LiveEngine(configuration: configuration, logger: logger) { _ in runner.processor }
            defer { engine.close() }
            try engine.start()
            let port = String(20000 + Int(getpid() % 20000))
            let server = try Shell.start(["/usr/bin/python3", "-c", Traffic.tcpEchoServer, net.hostAddress, port])
            defer { if server.process.isRunning { server.process.terminate() } }
            #expect(server.waitForOutput("LISTENING", timeoutSeconds: 10))
            let client = try net.python(Traffic.tcpClient, [net.hostAddress, port, "hello-through-the-vm"])
            _ = server.finish()
            _ = try net.python(Traffic.udpSender, [net.hostAddress, "7000", "5"])
            let stats = try engine.run(duration: .milliseconds(300))
            #expect(client.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "hello-through-the-vm",
                    "client: \(client.stdout) \(client.stderr)")
            #expect(stats.total.drop.packets == 5)
            #expect(stats.total.passReinjected >= 4, "SYN, ACK, data, FIN at least: \(stats.total.passReinjected)")
            // The program's own per-verdict counter (verdicts[XDP_DROP].packets) saw the same five drops.
            let verdicts = try #require(loaded.program.map(named: "verdicts"))
            let dropped = try #require(verdicts.lookup(key: [1, 0, 0, 0]))
            #expect(dropped.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } == 5)
        }
    }

    /// REDIRECT with the example program (programs/redirect_devmap.c) in the VM: IPv4 frames go to DEVMAP slot 0,
    /// which names the second veth pair's host end; they come out in the other namespace.
    @Test func redirectProgramInTheVMForwardsThroughItsDevmap() throws {
        let a = try NetnsFixture(tag: "va")
        defer { a.destroy() }
        let b = try NetnsFixture(tag: "vb")
        defer { b.destroy() }
        let to = try InterfaceInfo(name: b.hostInterface)
        let slot = withUnsafeBytes(of: to.ifindex.littleEndian) { Hex.string($0) }
        let opened = try ProgramSource.open(
            objectPath: LiveTestEnvironment.program("redirect_devmap"),
            mapsJSON: Array(#"{"tx_ports": {"00000000": "\#(slot)"}}"#.utf8))
        let loaded = try ProgramLoader.load(opened.spec, possibleCPUs: 1, verify: true)
        try opened.source.state.apply(to: loaded.program)
        let runner = ProgramRunner(program: loaded.program)
        var configuration = LiveTestEnvironment.configuration(a.hostInterface)
        configuration.redirectInterface = b.hostInterface
        try withExtendedLifetime(runner) {
            let engine = try LiveEngine(configuration: configuration, logger: logger) { _ in runner.processor }
            defer { engine.close() }
            try engine.start()
            let listener = try Shell.start([
                "ip", "netns", "exec", b.name, "/usr/bin/python3", "-c", Traffic.frameCounter,
                b.namespaceInterface, "3", "sluice-",
            ])
            #expect(listener.waitForOutput("LISTENING", timeoutSeconds: 10))
            _ = try a.python(Traffic.udpSender, [a.hostAddress, "5555", "8"])
            let received = listener.finish()
            let stats = try engine.run(duration: .milliseconds(200))
            #expect(stats.total.redirect.packets >= 8)
            #expect(received.stdout.split(separator: "\n").last == "8", "listener: \(received.stdout) \(received.stderr)")
        }
    }

    @Test func redirectForwardsFramesIntoAnotherNamespace() throws {
        let a = try NetnsFixture(tag: "ra")
        defer { a.destroy() }
        let b = try NetnsFixture(tag: "rb")
        defer { b.destroy() }
        let from = try InterfaceInfo(name: a.hostInterface)
        let to = try InterfaceInfo(name: b.hostInterface)
        var configuration = LiveTestEnvironment.configuration(a.hostInterface)
        configuration.redirectInterface = b.hostInterface
        let engine = try LiveEngine(configuration: configuration, logger: logger) { _ in
            UDPForwarder(
                fromIfindex: from.ifindex, toIfindex: to.ifindex, sourceMAC: b.hostMAC,
                destinationMAC: b.namespaceMAC)
        }
        defer { engine.close() }
        try engine.start()
        let listener = try Shell.start([
            "ip", "netns", "exec", b.name, "/usr/bin/python3", "-c", Traffic.frameCounter,
            b.namespaceInterface, "3", "sluice-",
        ])
        #expect(listener.waitForOutput("LISTENING", timeoutSeconds: 10))
        _ = try a.python(Traffic.udpSender, [a.hostAddress, "5555", "8"])
        let received = listener.finish()
        let stats = try engine.run(duration: .milliseconds(100))
        #expect(received.stdout.split(separator: "\n").last == "8", "listener: \(received.stdout) \(received.stderr)")
        #expect(engine.processors.first?.forwarded == 8)
        #expect(stats.total.redirect.packets == 8)
        let bQueue = try #require(stats.queues.first { $0.interface == b.hostInterface })
        #expect(bQueue.counters.txCompleted == 8)
    }

    @Test func listedFlowsGoStraightToTheKernelStack() throws {
        let net = try NetnsFixture(tag: "pf")
        defer { net.destroy() }
        var configuration = LiveTestEnvironment.configuration(net.hostInterface)
        configuration.passFlows = [
            PassFlow(
                source: Self.ipv4(net.namespaceAddress), destination: Self.ipv4(net.hostAddress),
                sourcePort: 40000, destinationPort: 6000, ipProtocol: 17)
        ]
        let engine = try LiveEngine(configuration: configuration, logger: logger) { _ in UDPPortCounter(port: 6000) }
        defer { engine.close() }
        try engine.start()
        _ = try net.python(Traffic.udpSender, [net.hostAddress, "6000", "4", "sport=40000"])
        _ = try net.python(Traffic.udpSender, [net.hostAddress, "6000", "3", "sport=40001"])
        let stats = try engine.run(duration: .milliseconds(300))
        #expect(engine.processors.first?.matched == 3, "only the unlisted flow reaches user space")
        #expect(stats.kernelPass.first?.byFlow == 4)
    }

    @Test func oneSocketAndWorkerPerQueue() throws {
        let net = try NetnsFixture(tag: "mq", queues: 2)
        defer { net.destroy() }
        let engine = try LiveEngine(configuration: LiveTestEnvironment.configuration(net.hostInterface), logger: logger)
        {
            _ in UDPPortCounter(port: 3333)
        }
        defer { engine.close() }
        #expect(engine.sockets.map(\.queue) == [0, 1])
        try engine.start()
        _ = try net.python(Traffic.udpSender, [net.hostAddress, "3333", "30", "flows"])
        let stats = try engine.run(duration: .milliseconds(300))
        #expect(engine.processors.count == 2)
        #expect(engine.processors.map(\.matched).reduce(0, +) == 30)
        #expect(stats.queues.map(\.counters.drop.packets).reduce(0, +) == 30)
        #expect(stats.total.drop.packets == 30)
    }

    @Test func anotherProgramOnTheInterfaceIsReportedAsBusy() throws {
        let net = try NetnsFixture(tag: "ob")
        defer { net.destroy() }
        // iproute2 creates its pin directories under bpffs when it loads an object; remove the ones it made here.
        let pins = BPFFSPins(BPFFSPins.iproute2)
        defer { pins.removeNew() }
        let load = try Shell.run([
            "ip", "link", "set", "dev", net.hostInterface, "xdpgeneric", "obj",
            LiveTestEnvironment.redirectProgram, "sec", "xdp",
        ])
        try #require(load.status == 0, "ip link … xdpgeneric obj: \(load.stderr)")
        defer { _ = try? Shell.run(["ip", "link", "set", "dev", net.hostInterface, "xdpgeneric", "off"]) }
        do {
            _ = try LiveEngine(configuration: LiveTestEnvironment.configuration(net.hostInterface), logger: logger) {
                _ in ConstantVerdict(action: .drop)
            }
            Issue.record("expected interfaceBusy")
        } catch {
            guard case .interfaceBusy(let name, _) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(name == net.hostInterface)
        }
    }

    @Test func libbpfOutputGoesToTheLoggerAndIntoTheError() throws {
        let sink = CapturedLog()
        var logger = Logger(label: "sluice.tests.libbpf") { _ in CapturingLogHandler(sink: sink) }
        logger.logLevel = .trace
        let notELF = "/tmp/sluice-not-elf-\(getpid()).o"
        FileManager.default.createFile(atPath: notELF, contents: Data("not an ELF file".utf8))
        defer { try? FileManager.default.removeItem(atPath: notELF) }
        do {
            _ = try RedirectAttachment(interface: InterfaceInfo(name: "lo"), objectPath: notELF, logger: logger)
            Issue.record("expected an error")
        } catch {
            guard case .redirectProgramUnavailable(let path, let reason) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(path == notELF)
            #expect(reason.contains("is not a proper ELF object"), "\(reason)")
        }
        #expect(sink.messages.contains { $0.contains("is not a proper ELF object") }, "captured: \(sink.messages)")
    }

    @Test func zeroCopyIsReportedAsUnavailableOnVeth() throws {
        let net = try NetnsFixture(tag: "zc")
        defer { net.destroy() }
        var configuration = LiveTestEnvironment.configuration(net.hostInterface)
        configuration.socket.zeroCopy = .required
        do {
            _ = try LiveEngine(configuration: configuration, logger: logger) { _ in ConstantVerdict(action: .drop) }
            Issue.record("zero-copy on veth should be refused")
        } catch {
            guard case .zeroCopyUnavailable(let name, let queue, _) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(name == net.hostInterface && queue == 0)
        }
        #expect(try !net.hostHasXDP(), "a failed start leaves nothing attached")
        configuration.socket.zeroCopy = .auto
        let engine = try LiveEngine(configuration: configuration, logger: logger) { _ in ConstantVerdict(action: .drop)
        }
        defer { engine.close() }
        #expect(engine.sockets[0].bindMode == .copy)
        #expect(engine.notes.contains { $0.contains("zero-copy not supported") }, "\(engine.notes)")
    }

    @Test func aFailedPersistentStartLeavesNoPinsAndNoProgram() throws {
        let net = try NetnsFixture(tag: "fp")
        defer { net.destroy() }
        defer { try? RedirectAttachment.detach(interface: net.hostInterface) }
        var configuration = LiveTestEnvironment.configuration(net.hostInterface)
        configuration.persist = true
        configuration.socket.zeroCopy = .required  // fails on veth after the program was attached and pinned
        #expect(throws: AFXDPError.self) {
            _ = try LiveEngine(configuration: configuration, logger: logger) { _ in ConstantVerdict(action: .drop) }
        }
        #expect(try !net.hostHasXDP())
        #expect(!FileManager.default.fileExists(atPath: RedirectAttachment.pinDirectory(interface: net.hostInterface)))
    }

    @Test func busyPollOptionsAreSetOrReported() throws {
        let net = try NetnsFixture(tag: "bp")
        defer { net.destroy() }
        var configuration = LiveTestEnvironment.configuration(net.hostInterface)
        configuration.socket.busyPoll = BusyPollConfiguration(timeoutMicroseconds: 20, budget: 64)
        configuration.socket.txSkbBudget = 128
        let engine = try LiveEngine(configuration: configuration, logger: logger) { _ in UDPPortCounter(port: 1234) }
        defer { engine.close() }
        for warning in engine.sockets[0].warnings where !warning.contains("zero-copy") {
            #expect(
                warning.contains("SO_") || warning.contains("XDP_MAX_TX_SKB_BUDGET"), "names the option: \(warning)")
        }
        try engine.start()
        _ = try net.python(Traffic.udpSender, [net.hostAddress, "1234", "3"])
        _ = try engine.run(duration: .milliseconds(200))
        #expect(engine.processors.first?.matched == 3)
    }

    @Test func aQueueCanBeReboundRightAfterTheEngineCloses() throws {
        let net = try NetnsFixture(tag: "rb")
        defer { net.destroy() }
        for round in 0..<3 {
            let engine = try LiveEngine(
                configuration: LiveTestEnvironment.configuration(net.hostInterface),
                logger: logger
            ) { _ in UDPPortCounter(port: 2000) }
            try engine.start()
            _ = try net.python(Traffic.udpSender, [net.hostAddress, "2000", "2"])
            _ = try engine.run(duration: .milliseconds(150))
            #expect(engine.processors.first?.matched == 2, "round \(round)")
            engine.close()
        }
        #expect(try !net.hostHasXDP())
    }

    @Test func sigkillLeavesNoXDPProgram() throws {
        let net = try NetnsFixture(tag: "kl")
        defer { net.destroy() }
        let probe = try Shell.start([
            LiveTestEnvironment.probe, "attach", net.hostInterface, "--seconds", "30",
            "--program", LiveTestEnvironment.redirectProgram,
        ])
        defer { if probe.process.isRunning { kill(probe.process.processIdentifier, SIGKILL) } }
        #expect(probe.waitForOutput("READY", timeoutSeconds: 15), "probe: \(probe.stdoutSoFar) \(probe.stderrSoFar)")
        #expect(try net.hostHasXDP())
        kill(probe.process.processIdentifier, SIGKILL)
        _ = probe.finish()
        #expect(try Self.eventually { try !net.hostHasXDP() }, "the bpf_link must go with the killed process")
    }

    @Test func sigtermStopsCleanlyWithFinalStats() throws {
        let net = try NetnsFixture(tag: "tm")
        defer { net.destroy() }
        let probe = try Shell.start([
            LiveTestEnvironment.probe, "attach", net.hostInterface, "--seconds", "30",
            "--program", LiveTestEnvironment.redirectProgram,
        ])
        defer { if probe.process.isRunning { kill(probe.process.processIdentifier, SIGKILL) } }
        #expect(probe.waitForOutput("READY", timeoutSeconds: 15))
        _ = try net.python(Traffic.udpSender, [net.hostAddress, "9", "4"])
        usleep(200_000)
        kill(probe.process.processIdentifier, SIGTERM)
        let out = probe.finish()
        #expect(out.status == 0)
        #expect(out.stdout.contains("STATS rx=4 drop=4 frames=4"), "probe: \(out.stdout) \(out.stderr)")
        #expect(try !net.hostHasXDP())
    }

    @Test func persistKeepsTheRedirectAndANewEngineTakesOverUntilDetach() throws {
        let net = try NetnsFixture(tag: "ps")
        defer { net.destroy() }
        defer { try? RedirectAttachment.detach(interface: net.hostInterface) }
        let pins = RedirectAttachment.pinDirectory(interface: net.hostInterface)

        let first = try Shell.run([
            LiveTestEnvironment.probe, "attach", net.hostInterface, "--persist", "--seconds",
            "0.3", "--program", LiveTestEnvironment.redirectProgram,
        ])
        #expect(first.status == 0, "probe: \(first.stderr)")
        #expect(first.stdout.contains("reused=0"))
        let linkID = try #require(Self.field("link", in: first.stdout))
        #expect(try net.hostHasXDP(), "the pinned link keeps the program after the process exits")
        #expect(FileManager.default.fileExists(atPath: pins + "/link"))
        #expect(FileManager.default.fileExists(atPath: pins + "/xsks_map"))
        // No socket bound: the redirect program falls back to XDP_PASS and the host still answers.
        let ping = try net.python(Traffic.pinger, [net.hostAddress, "2"])
        #expect(ping.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "2")

        let engine = try LiveEngine(configuration: LiveTestEnvironment.configuration(net.hostInterface), logger: logger)
        {
            _ in UDPPortCounter(port: 4242)
        }
        #expect(engine.attachments[0].reusedPinned)
        #expect(engine.attachments[0].linkID == UInt32(linkID), "no re-attach: the same link")
        // While no Sluice ran, the two echo requests went through the pinned program's no-socket fallback.
        #expect((engine.stats().kernelPass.first?.noSocket ?? 0) >= 2)
        try engine.start()
        _ = try net.python(Traffic.udpSender, [net.hostAddress, "4242", "5"])
        _ = try engine.run(duration: .milliseconds(300))
        #expect(engine.processors.first?.matched == 5)
        engine.close()
        #expect(try net.hostHasXDP(), "a pinned redirect stays after a non-persistent engine closes")

        let detach = try Shell.run([LiveTestEnvironment.probe, "detach", net.hostInterface])
        #expect(detach.status == 0, "detach: \(detach.stderr)")
        #expect(try !net.hostHasXDP())
        #expect(!FileManager.default.fileExists(atPath: pins))
        #expect(throws: AFXDPError.notPersisted(interface: net.hostInterface, path: pins)) {
            try RedirectAttachment.detach(interface: net.hostInterface)
        }
    }

    @Test func unknownVerdictsAndFramesOutOfBoundsCountAsAborted() throws {
        let net = try NetnsFixture(tag: "ab")
        defer { net.destroy() }
        let engine = try LiveEngine(configuration: LiveTestEnvironment.configuration(net.hostInterface), logger: logger)
        {
            _ in MisbehavingProcessor()
        }
        defer { engine.close() }
        try engine.start()
        _ = try net.python(Traffic.udpSender, [net.hostAddress, "9", "6"])
        let stats = try engine.run(duration: .milliseconds(300))
        #expect(engine.processors.first?.calls == 6)
        #expect(stats.total.aborted.packets == 6)
        #expect(stats.total.tx.packets == 0 && stats.total.txCompleted == 0)
    }

    @Test func badQueueAndBatchSettingsAreRefused() throws {
        let net = try NetnsFixture(tag: "bq")
        defer { net.destroy() }
        var configuration = LiveTestEnvironment.configuration(net.hostInterface)
        configuration.queues = [3]
        #expect(throws: AFXDPError.queueOutOfRange(interface: net.hostInterface, queue: 3, queueCount: 1)) {
            _ = try LiveEngine(configuration: configuration, logger: logger) { _ in ConstantVerdict(action: .drop) }
        }
        configuration.queues = nil
        configuration.batchSize = 0
        #expect(throws: AFXDPError.self) {
            _ = try LiveEngine(configuration: configuration, logger: logger) { _ in ConstantVerdict(action: .drop) }
        }
        #expect(try !net.hostHasXDP())
    }

    @Test func missingInterfaceIsNamedInTheError() throws {
        let name = "sxnone\(getpid() % 1_000_000)"
        #expect(throws: AFXDPError.interfaceNotFound(name)) {
            _ = try LiveEngine(configuration: LiveTestEnvironment.configuration(name), logger: logger) { _ in
                ConstantVerdict(action: .drop)
            }
        }
        #expect(AFXDPError.interfaceNotFound(name).description.contains("'\(name)'"))
    }

    @Test func missingRedirectProgramIsNamed() throws {
        let net = try NetnsFixture(tag: "np")
        defer { net.destroy() }
        var configuration = LiveTestEnvironment.configuration(net.hostInterface)
        configuration.redirectProgramPath = "/nonexistent/sluice_redirect.o"
        do {
            _ = try LiveEngine(configuration: configuration, logger: logger) { _ in ConstantVerdict(action: .drop) }
            Issue.record("expected an error")
        } catch {
            guard case .redirectProgramUnavailable(let path, _) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(path == "/nonexistent/sluice_redirect.o")
        }
        #expect(try !net.hostHasXDP())
    }

    @Test func withoutCapabilitiesTheErrorNamesThem() throws {
        let net = try NetnsFixture(tag: "cp")
        defer { net.destroy() }
        let out = try Shell.run([
            "setpriv", "--inh-caps=-all", "--bounding-set=-all", "--", LiveTestEnvironment.probe,
            "attach", net.hostInterface, "--seconds", "1", "--program",
            LiveTestEnvironment.redirectProgram,
        ])
        #expect(out.status == 1)
        #expect(out.stderr.contains("CAP_NET_ADMIN"), "stderr: \(out.stderr)")
        #expect(out.stderr.contains("CAP_NET_RAW"))
        #expect(out.stderr.contains("CAP_BPF"))
        #expect(try !net.hostHasXDP())
    }

    @Test func deletingTheInterfaceMidRunEndsTheWorkerWithAMessage() throws {
        let net = try NetnsFixture(tag: "gn")
        defer { net.destroy() }
        let engine = try LiveEngine(configuration: LiveTestEnvironment.configuration(net.hostInterface), logger: logger)
        {
            _ in ConstantVerdict(action: .drop)
        }
        defer { engine.close() }
        try engine.start()
        _ = try Shell.run(["ip", "link", "del", net.hostInterface])
        let started = ContinuousClock.now
        let stats = try engine.run(duration: .seconds(10))
        #expect(ContinuousClock.now - started < .seconds(5), "the worker must notice, not wait for the duration")
        #expect(stats.endReasons.count == 1)
        #expect(stats.endReasons.first?.contains(net.hostInterface) == true, "\(stats.endReasons)")
        engine.close()
    }

    // MARK: helpers

    static func ipv4(_ text: String) -> UInt32 {
        text.split(separator: ".").reduce(UInt32(0)) { $0 << 8 | UInt32($1)! }
    }

    static func rxPackets(_ interface: String) throws -> Int {
        let text = try String(contentsOfFile: "/sys/class/net/\(interface)/statistics/rx_packets", encoding: .utf8)
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    static func field(_ key: String, in text: String) -> Int? {
        for word in text.split(whereSeparator: { $0 == " " || $0 == "\n" }) where word.hasPrefix(key + "=") {
            return Int(word.dropFirst(key.count + 1))
        }
        return nil
    }

    /// Polls `condition` for up to 3 s.
    static func eventually(_ condition: () throws -> Bool) throws -> Bool {
        for _ in 0..<150 {
            if try condition() { return true }
            usleep(20_000)
        }
        return false
    }
}

extension InterfaceInfo {
    static func exists(_ name: String) -> Bool { if_nametoindex(name) != 0 }
}

/// Log lines captured by `CapturingLogHandler`.
final class CapturedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.withLock { lines.append(line) } }
    var messages: [String] { lock.withLock { lines } }
}

struct CapturingLogHandler: LogHandler {
    let sink: CapturedLog
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        sink.append("\(event.message)")
    }
}
