import Testing

@testable import Sluice

/// Parts of the AF_XDP layer that need no privileges.
struct AFXDPUnitTests {
    @Test func passFlowKeyIsTheKernelStructInNetworkOrder() {
        let flow = PassFlow(
            source: 0x0a00_0001, destination: 0xc0a8_0102, sourcePort: 0x1234, destinationPort: 53,
            ipProtocol: 17)
        #expect(flow.keyBytes == [10, 0, 0, 1, 192, 168, 1, 2, 0x12, 0x34, 0, 53, 17, 0, 0, 0])
    }

    @Test func missingCapabilitiesAreNamed() {
        #expect(
            Privileges.missingForLiveEngine(effective: 0).map(\.description)
                == ["CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_BPF"])
        let admin: UInt64 = 1 << 12 | 1 << 13
        #expect(Privileges.missingForLiveEngine(effective: admin | 1 << 39).isEmpty)
        #expect(
            Privileges.missingForLiveEngine(effective: admin | 1 << 21).isEmpty, "CAP_SYS_ADMIN stands in for CAP_BPF")
        #expect(
            Privileges.missingForLiveEngine(effective: 1 << 39).map(\.description) == ["CAP_NET_ADMIN", "CAP_NET_RAW"])
    }

    @Test func umemRejectsBadSizesBeforeTouchingTheKernel() {
        #expect(throws: AFXDPError.self) { try UMEM(configuration: UMEMConfiguration(frameSize: 3000)) }
        #expect(throws: AFXDPError.self) { try UMEM(configuration: UMEMConfiguration(fillSize: 1000)) }
        #expect(throws: AFXDPError.self) { try UMEM(configuration: UMEMConfiguration(frameCount: 8)) }
    }

    @Test func interfaceLookupNamesAMissingInterface() {
        #expect(throws: AFXDPError.interfaceNotFound("sx-no-such-if")) { try InterfaceInfo(name: "sx-no-such-if") }
        #expect(throws: AFXDPError.interfaceNotFound("")) { try InterfaceInfo(name: "") }
        #expect(throws: AFXDPError.interfaceNotFound("a-name-longer-than-ifnamsiz")) {
            try InterfaceInfo(name: "a-name-longer-than-ifnamsiz")
        }
    }

    @Test func loopbackHasAnIndexAndQueues() throws {
        let lo = try InterfaceInfo(name: "lo")
        #expect(lo.ifindex > 0)
        #expect(lo.rxQueueCount >= 1)
    }

    @Test func socketStatisticsAddUp() {
        var a = XDPSocketStatistics()
        a.rxRingFull = 2
        a.rxFillRingEmpty = 1
        var b = XDPSocketStatistics()
        b.rxRingFull = 3
        b.txRingEmpty = 4
        let sum = a + b
        #expect(sum.rxRingFull == 5 && sum.rxFillRingEmpty == 1 && sum.txRingEmpty == 4)
    }
}
