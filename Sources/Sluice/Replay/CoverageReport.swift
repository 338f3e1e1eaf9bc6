import BPFVM

#if canImport(Glibc)
import Glibc
#endif

/// An lcov tracefile (the format `geninfo` writes and `genhtml` reads) from an `ExecutionRecorder`'s counts: per source
/// file, the functions (each program, and each BPF-to-BPF callee) with their entry counts, per-line hit counts (a
/// line's count is its most-executed instruction's), and per conditional jump two branches, taken and fall-through.
public enum CoverageReport {
    public static func lcov(_ programs: [ExecutionRecorder.ProgramInfo], testName: String) -> String {
        var files: [String: FileCoverage] = [:]
        var fileOrder: [String] = []
        for program in programs {
            let spec = program.spec
            var functionStarts: [Int: String] = [0: program.name]
            for (index, insn) in spec.instructions.enumerated() where insn.opcode == 0x85 && insn.src == 1 {
                let target = index + 1 + Int(insn.imm)
                if functionStarts[target] == nil { functionStarts[target] = "\(program.name)+\(target)" }
            }
            var index = 0
            while index < spec.instructions.count {
                let insn = spec.instructions[index]
                let slots = insn.opcode == 0x18 ? 2 : 1
                defer { index += slots }
                guard let location = spec.lineInfo[index], location.line > 0 else { continue }
                if files[location.file] == nil {
                    files[location.file] = FileCoverage()
                    fileOrder.append(location.file)
                }
                let hits = program.hits[index]
                files[location.file]!.lines[location.line] = max(files[location.file]!.lines[location.line] ?? 0, hits)
                if let name = functionStarts[index] {
                    files[location.file]!.functions.append((name, location.line, hits))
                }
                let cls = insn.opcode & 0x07
                let op = insn.opcode & 0xf0
                if (cls == 0x05 || cls == 0x06) && op != 0x00 && op != 0x80 && op != 0x90 {
                    files[location.file]!.branches.append(
                        (location.line, "\(program.name):\(index)", hits, program.taken[index], program.notTaken[index]))
                }
            }
        }
        var out = ""
        for file in fileOrder {
            let coverage = files[file]!
            out += "TN:\(testName)\nSF:\(file)\n"
            for function in coverage.functions { out += "FN:\(function.line),\(function.name)\n" }
            for function in coverage.functions { out += "FNDA:\(function.hits),\(function.name)\n" }
            out += "FNF:\(coverage.functions.count)\nFNH:\(coverage.functions.filter { $0.hits > 0 }.count)\n"
            var branchesHit = 0
            var blockNumbers: [String: Int] = [:]
            for branch in coverage.branches {
                let block = blockNumbers[branch.block] ?? blockNumbers.count
                blockNumbers[branch.block] = block
                let executed = branch.hits > 0
                out += "BRDA:\(branch.line),\(block),0,\(executed ? String(branch.taken) : "-")\n"
                out += "BRDA:\(branch.line),\(block),1,\(executed ? String(branch.notTaken) : "-")\n"
                branchesHit += (branch.taken > 0 ? 1 : 0) + (branch.notTaken > 0 ? 1 : 0)
            }
            out += "BRF:\(coverage.branches.count * 2)\nBRH:\(branchesHit)\n"
            for (line, hits) in coverage.lines.sorted(by: { $0.key < $1.key }) { out += "DA:\(line),\(hits)\n" }
            out += "LF:\(coverage.lines.count)\nLH:\(coverage.lines.values.filter { $0 > 0 }.count)\n"
            out += "end_of_record\n"
        }
        return out
    }

    struct FileCoverage {
        var lines: [Int: UInt64] = [:]
        var functions: [(name: String, line: Int, hits: UInt64)] = []
        var branches: [(line: Int, block: String, hits: UInt64, taken: UInt64, notTaken: UInt64)] = []
    }

    public struct GenhtmlError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Runs `genhtml --branch-coverage -o DIRECTORY TRACEFILE` (Debian's `lcov` package) and waits for it.
    public static func genhtml(tracefile: String, outputDirectory: String) throws(GenhtmlError) {
        let argv = ["genhtml", "--quiet", "--branch-coverage", "--output-directory", outputDirectory, tracefile]
        var pid: pid_t = 0
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        let rc = posix_spawnp(&pid, "genhtml", nil, nil, &cArgs, environ)
        guard rc == 0 else {
            throw GenhtmlError(
                description: "cannot run genhtml: \(Errno(rawValue: rc).description) (install Debian's lcov package)")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && Errno.current == .interrupted {}
        let exited = status & 0x7f == 0
        let code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            throw GenhtmlError(description: "genhtml failed on \(tracefile) (exit status \(exited ? code : -1))")
        }
    }
}
