import BPFObject
import BPFVM
import Foundation

/// Compiles small BPF C programs at test time, exactly as users do (`clang -O2 -g -target bpf -c`).
enum BPFCompiler {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// `clang-14` from Debian, or the Swift toolchain's clang (needed for `-mcpu=v4`).
    enum Compiler {
        case debian
        case swiftToolchain

        var path: String {
            switch self {
            case .debian: "/usr/bin/clang-14"
            case .swiftToolchain: BPFCompiler.swiftToolchainClang
            }
        }
    }

    /// The directory of the `swift` driver, resolved through symlinks, holds the toolchain's clang.
    static let swiftToolchainClang: String = {
        let swift =
            (try? run("/bin/sh", ["-c", "readlink -f \"$(command -v swift)\""]))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        return URL(fileURLWithPath: swift).deletingLastPathComponent().appendingPathComponent("clang").path
    }()

    static let multiarch: String =
        (try? run("/usr/bin/gcc", ["-dumpmachine"]))?.trimmingCharacters(in: .whitespacesAndNewlines)
        ?? "x86_64-linux-gnu"

    /// Compiles `source` as `name.c` and returns the object's path. Objects are kept by content
    /// (`<tmp>/sluice-bpfobject-objects/<hash>/<name>.o`), so repeated runs compile once and leave nothing new behind.
    static func compile(
        _ source: String, name: String = "prog", compiler: Compiler = .debian, flags: [String] = []
    ) throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-bpfobject-objects").path
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a: stable across runs
        for part in [source, name, compiler.path] + flags {
            for byte in part.utf8 + [0] {
                hash ^= UInt64(byte)
                hash &*= 0x100_0000_01b3
            }
        }
        let final = root + "/" + String(hash, radix: 16)
        let objectPath = final + "/\(name).o"
        if FileManager.default.fileExists(atPath: objectPath) { return objectPath }
        // Compiled in a directory of its own and moved into place whole, so a concurrent compile finds either
        // nothing or the finished object.
        let directory = root + "/.compiling-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let sourcePath = directory + "/\(name).c"
        try source.write(toFile: sourcePath, atomically: true, encoding: .utf8)
        do {
            _ = try run(
                compiler.path,
                ["-O2", "-g", "-target", "bpf", "-I/usr/include/\(multiarch)"] + flags + [
                    "-c", sourcePath, "-o", directory + "/\(name).o",
                ])
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        if rename(directory, final) != 0 { try? FileManager.default.removeItem(atPath: directory) }  // another won
        return objectPath
    }

    /// Compiles and loads.
    static func load(
        _ source: String, name: String = "prog", compiler: Compiler = .debian, flags: [String] = []
    ) throws -> BPFObjectFile {
        try BPFObjectFile(path: compile(source, name: name, compiler: compiler, flags: flags))
    }

    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(
                description: "\(executable) \(arguments.joined(separator: " ")) failed:\n"
                    + String(decoding: errorData, as: UTF8.self))
        }
        return String(decoding: outputData, as: UTF8.self)
    }
}

/// Reading linked programs back, for assertions.
extension ProgramSpec {
    /// Indices of instruction starts (skipping the second slot of `lddw`) whose decoded operation matches.
    func indices(where matches: (Instruction, BPFVM.Operation) -> Bool) -> [Int] {
        var result: [Int] = []
        var index = 0
        while index < instructions.count {
            let insn = instructions[index]
            guard let operation = try? BPFVM.Operation(decoding: insn) else {
                index += 1
                continue
            }
            if matches(insn, operation) { result.append(index) }
            index += operation.isWide ? 2 : 1
        }
        return result
    }

    /// `lddw` pseudo-loads of the given kind.
    func loads(_ kind: LoadImmediateKind) -> [Int] {
        indices { _, operation in operation == .loadImmediate64(kind) }
    }

    /// `call` instructions of the given kind.
    func calls(_ kind: CallKind) -> [Int] {
        indices { _, operation in operation == .call(kind) }
    }

    /// The target instruction of a local call or a callback address at `index`.
    func target(of index: Int) -> Int { index + 1 + Int(instructions[index].imm) }
}

/// Minimal ELF64 section-header access, to corrupt real objects in precise places.
struct ELFPatcher {
    var bytes: [UInt8]

    init(path: String) throws { bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

    func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
    func u32(_ at: Int) -> Int { (0..<4).reduce(0) { $0 | Int(bytes[at + $1]) << (8 * $1) } }
    func u64(_ at: Int) -> Int { (0..<8).reduce(0) { $0 | Int(bytes[at + $1]) << (8 * $1) } }
    mutating func put32(_ value: Int, at: Int) {
        for index in 0..<4 { bytes[at + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
    }
    mutating func put64(_ value: Int, at: Int) {
        for index in 0..<8 { bytes[at + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
    }

    var sectionHeaderOffset: Int { u64(0x28) }
    var sectionCount: Int { u16(0x3c) }
    /// File offset of section header `index`.
    func header(_ index: Int) -> Int { sectionHeaderOffset + index * 64 }

    func name(ofSection index: Int) -> String {
        let names = u64(header(u16(0x3e)) + 24)
        var at = names + u32(header(index))
        var result: [UInt8] = []
        while bytes[at] != 0 {
            result.append(bytes[at])
            at += 1
        }
        return String(decoding: result, as: UTF8.self)
    }

    /// (file offset of the header, file offset of the data, size) of the section called `name`.
    func section(_ wanted: String) -> (header: Int, data: Int, size: Int)? {
        for index in 0..<sectionCount where name(ofSection: index) == wanted {
            let at = header(index)
            return (at, u64(at + 24), u64(at + 32))
        }
        return nil
    }
}
