import Sluice
import Testing

/// Error messages of the kernel runner: each names what was wrong; no privileges needed.
@Suite("Kernel runner errors")
struct KernelRunnerErrorTests {
    @Test("missing privileges say what to do")
    func privileges() {
        let error = KernelRunnerError.insufficientPrivileges(missing: ["CAP_BPF"])
        #expect(error.description.hasPrefix("the kernel runner needs CAP_BPF and CAP_NET_ADMIN (run as root)"))
        #expect(error.description.hasSuffix("missing: CAP_BPF"))
    }

    @Test("a verifier rejection quotes the end of the log, where the complaint is")
    func rejectionTail() {
        let log = (1...40).map { "line \($0)" }.joined(separator: "\n") + "\ninvalid access to packet, off=20 size=1"
        let description = KernelRunnerError.loadRejected(program: "unchecked", errno: 13, log: log).description
        #expect(description.hasPrefix("the kernel rejected program 'unchecked' (errno 13):"))
        #expect(description.hasSuffix("  invalid access to packet, off=20 size=1"))
        #expect(description.contains("16 earlier lines"))
        #expect(!description.contains("line 16\n"))
        #expect(description.contains("line 17\n"))
    }

    @Test("lookup errors list what is available")
    func lookups() {
        #expect(
            KernelRunnerError.programNotFound(.named("tc"), path: "a.o", available: ["xdp/count"]).description
                == "a.o: no program 'tc'; available: xdp/count")
        #expect(
            KernelRunnerError.unknownMap("by_port", available: ["by_size", ".rodata"]).description
                == "no map 'by_port' in the object; maps: by_size, .rodata")
        #expect(
            KernelRunnerError.valueSizeMismatch(map: "by_size", expected: 8, actual: 4).description
                == "map 'by_size': value is 4 bytes, the map's value size is 8")
    }
}
