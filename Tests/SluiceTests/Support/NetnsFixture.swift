import Foundation

/// A network namespace with a veth pair into it, made by `scripts/netns.sh` for one test and removed by `destroy()`
/// (call it from `defer`). Names include the PID and a per-process counter so concurrent runs never collide.
final class NetnsFixture {
    let name: String
    let hostInterface: String
    let hostAddress: String
    let hostMAC: [UInt8]
    let namespaceInterface: String
    let namespaceAddress: String
    let namespaceMAC: [UInt8]
    private var destroyed = false

    nonisolated(unsafe) private static var counter = 0

    /// Creates `sx<pid><tag><n>` (at most 13 characters).
    init(tag: String, queues: Int = 1) throws {
        Self.counter += 1
        let pid = String(getpid() % 1_000_000)
        let name = String("sx\(pid)\(tag.prefix(2))\(Self.counter)".prefix(13))
        self.name = name
        let output = try Shell.run([Self.script, "create", name, "--queues", String(queues)])
        guard output.status == 0 else {
            _ = try? Shell.run([Self.script, "destroy", name])
            throw FixtureError("netns.sh create \(name) failed: \(output.stderr)")
        }
        var values: [String: String] = [:]
        for line in output.stdout.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { values[String(parts[0])] = String(parts[1]) }
        }
        func value(_ key: String) throws -> String {
            guard let v = values[key] else { throw FixtureError("netns.sh create printed no \(key)") }
            return v
        }
        hostInterface = try value("HOST_IF")
        hostAddress = try value("HOST_ADDR")
        hostMAC = try Self.mac(value("HOST_MAC"))
        namespaceInterface = try value("NS_IF")
        namespaceAddress = try value("NS_ADDR")
        namespaceMAC = try Self.mac(value("NS_MAC"))
    }

    /// Runs a command inside the namespace.
    func exec(_ arguments: [String], timeoutSeconds: Double = 20) throws -> Shell.Output {
        try Shell.run(["ip", "netns", "exec", name] + arguments, timeoutSeconds: timeoutSeconds)
    }

    /// Runs a Python 3 script (Debian's /usr/bin/python3) inside the namespace.
    func python(_ script: String, _ arguments: [String] = [], timeoutSeconds: Double = 20) throws -> Shell.Output {
        try exec(["/usr/bin/python3", "-c", script] + arguments, timeoutSeconds: timeoutSeconds)
    }

    /// True when `ip link show` lists an XDP program on the host end.
    func hostHasXDP() throws -> Bool {
        let out = try Shell.run(["ip", "link", "show", "dev", hostInterface])
        return out.stdout.contains("prog/xdp")
    }

    func destroy() {
        guard !destroyed else { return }
        destroyed = true
        _ = try? Shell.run([Self.script, "destroy", name])
    }

    deinit { destroy() }

    static var packageRoot: String {
        // …/Tests/SluiceTests/Support/NetnsFixture.swift → package root
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.path
    }

    static var script: String { packageRoot + "/scripts/netns.sh" }

    static func mac(_ text: String) throws -> [UInt8] {
        let bytes = text.split(separator: ":").compactMap { UInt8($0, radix: 16) }
        guard bytes.count == 6 else { throw FixtureError("bad MAC \(text)") }
        return bytes
    }
}

struct FixtureError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs external commands with a time limit, capturing their output.
enum Shell {
    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func run(_ arguments: [String], timeoutSeconds: Double = 20) throws -> Output {
        let process = try start(arguments)
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while process.process.isRunning && Date() < deadline { usleep(10_000) }
        if process.process.isRunning {
            process.process.terminate()
            process.process.waitUntilExit()
            throw FixtureError("\(arguments.joined(separator: " ")) timed out after \(timeoutSeconds) s")
        }
        return process.finish()
    }

    /// A started process whose output is collected into files (no pipe can fill up and block it).
    final class Running {
        let process: Process
        let outURL: URL
        let errURL: URL
        init(process: Process, outURL: URL, errURL: URL) {
            self.process = process
            self.outURL = outURL
            self.errURL = errURL
        }
        var stdoutSoFar: String { (try? String(contentsOf: outURL, encoding: .utf8)) ?? "" }
        var stderrSoFar: String { (try? String(contentsOf: errURL, encoding: .utf8)) ?? "" }
        func finish() -> Output {
            process.waitUntilExit()
            defer {
                try? FileManager.default.removeItem(at: outURL)
                try? FileManager.default.removeItem(at: errURL)
            }
            return Output(status: process.terminationStatus, stdout: stdoutSoFar, stderr: stderrSoFar)
        }
        /// Waits until stdout contains `marker` (true) or the process exits / time runs out (false).
        func waitForOutput(_ marker: String, timeoutSeconds: Double) -> Bool {
            let deadline = Date().addingTimeInterval(timeoutSeconds)
            while Date() < deadline {
                if stdoutSoFar.contains(marker) { return true }
                if !process.isRunning { return stdoutSoFar.contains(marker) }
                usleep(20_000)
            }
            return false
        }
    }

    static func start(_ arguments: [String]) throws -> Running {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let tmp = FileManager.default.temporaryDirectory
        let id = UUID().uuidString
        let outURL = tmp.appendingPathComponent("sluice-test-\(id).out")
        let errURL = tmp.appendingPathComponent("sluice-test-\(id).err")
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        try process.run()
        return Running(process: process, outURL: outURL, errURL: errURL)
    }
}
