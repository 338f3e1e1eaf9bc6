import Foundation

/// Compiles BPF C source written inline in a test into an object file, the way users build theirs:
/// `clang -O2 -g -target bpf -I/usr/include/<multiarch> -c`.
///
/// clang-14 (Debian) is used by default; `mcpu: "v4"` needs the Swift toolchain's clang (LLVM ≥ 18), which is found
/// next to `swift`. Objects are kept by content (`<tmp>/sluice-bpf-objects/<hash>/<name>.o`, the hash of the
/// source, name, `-mcpu` and compiler): the same test compiles once per machine and repeated runs leave nothing
/// new behind.
enum BPFCompiler {
    struct Failure: Error, CustomStringConvertible {
        var name: String
        var command: [String]
        var output: String
        var description: String { "compiling \(name) failed: \(command.joined(separator: " "))\n\(output)" }
    }

    /// Compiles `source` to `<tmp>/<name>.o` and returns the path.
    /// - Parameters:
    ///   - name: the file's base name (libbpf derives the object name, and so the `<obj>.rodata` map names, from it).
    ///   - mcpu: `-mcpu=` value (`v1`…`v4`); nil leaves clang's default.
    static func compile(source: String, name: String, mcpu: String? = nil) throws -> String {
        let compiler = mcpu == "v4" ? try toolchainClang() : "/usr/bin/clang-14"
        let root = NSTemporaryDirectory() + "/sluice-bpf-objects"
        let final = root + "/" + cacheKey([source, name, mcpu ?? "", compiler])
        let objectPath = final + "/" + name + ".o"
        if FileManager.default.fileExists(atPath: objectPath) { return objectPath }
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        // Compiled in a directory of its own, then moved into place whole: a concurrent compile of the same source
        // finds either nothing or the finished object.
        let directory = try temporaryDirectory(in: root)
        let sourcePath = directory + "/" + name + ".c"
        try source.write(toFile: sourcePath, atomically: true, encoding: .utf8)
        var arguments = ["-O2", "-g", "-target", "bpf", "-I/usr/include/" + multiarch, "-Wall", "-Wno-unused-function"]
        if let mcpu { arguments.append("-mcpu=" + mcpu) }
        arguments += ["-c", sourcePath, "-o", directory + "/" + name + ".o"]
        let (status, output) = try run(compiler, arguments)
        guard status == 0 else {
            try? FileManager.default.removeItem(atPath: directory)
            throw Failure(name: name, command: [compiler] + arguments, output: output)
        }
        if rename(directory, final) != 0 { try? FileManager.default.removeItem(atPath: directory) }  // another won
        return objectPath
    }

    /// FNV-1a (64 bits) of the parts, in hex: stable across runs, unlike `Hasher`.
    private static func cacheKey(_ parts: [String]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for part in parts {
            for byte in part.utf8 + [0] {
                hash ^= UInt64(byte)
                hash &*= 0x100_0000_01b3
            }
        }
        return String(hash, radix: 16)
    }

    /// `gcc -dumpmachine` (e.g. `x86_64-linux-gnu`): where `asm/types.h` lives for `-target bpf`.
    static let multiarch: String = {
        if let (status, output) = try? run("/usr/bin/gcc", ["-dumpmachine"]), status == 0 {
            return output.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #if arch(arm64)
        return "aarch64-linux-gnu"
        #else
        return "x86_64-linux-gnu"
        #endif
    }()

    private static func toolchainClang() throws -> String {
        let (status, output) = try run("/bin/sh", ["-c", "readlink -f \"$(command -v swift)\""])
        let swift = output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard status == 0, !swift.isEmpty else {
            throw Failure(name: "clang", command: ["readlink -f $(command -v swift)"], output: output)
        }
        return (swift as NSString).deletingLastPathComponent + "/clang"
    }

    private static func temporaryDirectory(in root: String) throws -> String {
        var template = Array((root + "/.compiling-XXXXXX").utf8CString)
        guard let created = mkdtemp(&template) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "mkdtemp failed"])
        }
        return String(cString: created)
    }

    private static func run(_ executable: String, _ arguments: [String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
