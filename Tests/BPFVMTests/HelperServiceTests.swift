import Testing

@testable import BPFVM

/// An environment with no frame, for the helpers that only read or write services.
final class TestEnvironment {
    let pointer: UnsafeMutablePointer<ExecutionEnvironment>

    init() {
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: ExecutionEnvironment())
    }

    deinit {
        pointer.deinitialize(count: 1)
        pointer.deallocate()
    }

    @discardableResult
    func call(_ helper: HelperFunction, _ r1: UInt64 = 0, _ r2: UInt64 = 0, _ r3: UInt64 = 0) -> UInt64 {
        helper(UnsafeMutableRawPointer(pointer), r1, r2, r3, 0, 0)
    }
}

@Suite("Clock, random and processor helpers")
struct HelperServiceTests {
    @Test("ktime_get_ns, ktime_get_boot_ns and ktime_get_coarse_ns all read the injected clock")
    func clocks() {
        let env = TestEnvironment()
        env.pointer.pointee.clockNanos = 1_700_000_000_123_456_789
        #expect(env.call(ServiceHelpers.ktimeGetNs) == 1_700_000_000_123_456_789)
        #expect(env.call(ServiceHelpers.ktimeGetBootNs) == 1_700_000_000_123_456_789)
        #expect(env.call(ServiceHelpers.ktimeGetCoarseNs) == 1_700_000_000_123_456_789)
        #expect(env.call(ServiceHelpers.jiffies64) == 1_700_000_000_123)
        env.pointer.pointee.clockNanos = 42
        #expect(env.call(ServiceHelpers.ktimeGetNs) == 42)
    }

    @Test("get_smp_processor_id returns the worker's processor id")
    func processor() {
        let env = TestEnvironment()
        env.pointer.pointee.processorID = 3
        #expect(env.call(ServiceHelpers.getSmpProcessorID) == 3)
    }

    @Test("get_prandom_u32: the same seed gives the same sequence, another seed another one")
    func randomIsDeterministic() {
        func sequence(seed: UInt64) -> [UInt64] {
            let env = TestEnvironment()
            env.pointer.pointee.randomState = seed
            return (0..<64).map { _ in env.call(ServiceHelpers.getPrandomU32) }
        }
        let a = sequence(seed: 1)
        #expect(a == sequence(seed: 1))
        #expect(a != sequence(seed: 2))
        #expect(a.allSatisfy { $0 <= UInt64(UInt32.max) })
        #expect(Set(a).count > 60)  // no short cycle
        #expect(Set(sequence(seed: 0)).count > 60)  // seed 0 is a valid seed
    }

    @Test("the generator is SplitMix64 (reference values of Vigna's splitmix64.c for seed 0)")
    func splitMixReference() {
        var state: UInt64 = 0
        #expect(PseudoRandom.next(&state) == 0xe220_a839_7b1d_cdaf)
        #expect(PseudoRandom.next(&state) == 0x6e78_9e6a_a1b9_65f4)
        #expect(PseudoRandom.next(&state) == 0x06c4_5d18_8009_454f)
    }

    @Test("the state advances: prandom_u32 returns the high half of consecutive 64-bit values")
    func prandomIsHighHalf() {
        let env = TestEnvironment()
        env.pointer.pointee.randomState = 99
        var state: UInt64 = 99
        for _ in 0..<8 { #expect(env.call(ServiceHelpers.getPrandomU32) == PseudoRandom.next(&state) >> 32) }
        #expect(env.pointer.pointee.randomState == state)
    }
}

@Suite("bpf_redirect")
struct HelperRedirectTests {
    @Test("records the interface and returns XDP_REDIRECT")
    func redirects() {
        let env = TestEnvironment()
        #expect(env.call(XDPHelpers.redirect, 7, 0) == XDPVerdict.redirect)
        #expect(env.pointer.pointee.redirectKind == .interface)
        #expect(env.pointer.pointee.redirectValue == 7)
    }

    @Test(
        "any flag (BPF_F_INGRESS included) returns XDP_ABORTED and records nothing",
        arguments: [
            UInt64(1), 2, 1 << 16, 1 << 63,
        ])
    func flagsAbort(_ flags: UInt64) {
        let env = TestEnvironment()
        #expect(env.call(XDPHelpers.redirect, 7, flags) == XDPVerdict.aborted)
        #expect(env.pointer.pointee.redirectKind == RedirectKind.none)
        #expect(env.pointer.pointee.redirectValue == 0)
    }
}

@Suite("Sluice kfuncs")
struct HelperKfuncTests {
    @Test("sluice_abi_version reports version 1")
    func version() {
        #expect(TestEnvironment().call(SluiceKfuncs.abiVersionFunction) == 1)
        #expect(SluiceKfuncs.abiVersion == 1)
    }

    @Test("frame timestamps: _v1 is the clock; _v2 adds flags (0 = _v1, 1 = whole microseconds, others → 0)")
    func timestamps() {
        let env = TestEnvironment()
        env.pointer.pointee.clockNanos = 1_234_567_891
        #expect(env.call(SluiceKfuncs.frameTimestampV1) == 1_234_567_891)
        #expect(env.call(SluiceKfuncs.frameTimestampV2, 0, 0) == 1_234_567_891)
        #expect(env.call(SluiceKfuncs.frameTimestampV2, 0, SluiceKfuncs.timestampMicroseconds) == 1_234_567_000)
        #expect(env.call(SluiceKfuncs.frameTimestampV2, 0, 2) == 0)
    }

    @Test("sluice_random_u64_v1 draws full 64-bit values from the same seeded generator")
    func random() {
        let env = TestEnvironment()
        env.pointer.pointee.randomState = 0
        #expect(env.call(SluiceKfuncs.randomU64V1) == 0xe220_a839_7b1d_cdaf)
        #expect(env.call(ServiceHelpers.getPrandomU32) == 0x6e78_9e6a)
    }
}
