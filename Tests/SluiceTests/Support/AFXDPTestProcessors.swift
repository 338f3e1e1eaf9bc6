import Sluice

// Small FrameProcessors written in Swift for the live tests: what a user-space XDP program does, without the VM.

private let dropVerdict = UInt64(XDPAction.drop.rawValue)

/// Counts UDP/IPv4 frames to `port` and drops everything.
struct UDPPortCounter: FrameProcessor {
    let port: UInt16
    var matched = 0
    var other = 0
    init(port: UInt16) { self.port = port }

    mutating func process(_ frame: inout Frame) -> UInt64 {
        if udpDestinationPort(frame) == port { matched += 1 } else { other += 1 }
        return dropVerdict
    }
    var redirectTarget: RedirectTarget? { nil }
}

/// Answers ICMP echo requests in place (MACs and IPs swapped, type 0, checksum adjusted) with XDP_TX.
struct ICMPEchoResponder: FrameProcessor {
    var replies = 0
    var ignored = 0

    mutating func process(_ frame: inout Frame) -> UInt64 {
        let p = frame.data.assumingMemoryBound(to: UInt8.self)
        let n = frame.length
        guard n >= 42, p[12] == 0x08, p[13] == 0x00, p[14] >> 4 == 4, p[23] == 1 else {
            ignored += 1
            return dropVerdict
        }
        let ihl = Int(p[14] & 0x0f) * 4
        let icmp = 14 + ihl
        guard ihl >= 20, n >= icmp + 8, p[icmp] == 8, p[icmp + 1] == 0 else {
            ignored += 1
            return dropVerdict
        }
        for i in 0..<6 { swapAt(p, i, 6 + i) }
        for i in 0..<4 { swapAt(p, 26 + i, 30 + i) }  // the IP header checksum is unchanged by a swap
        p[icmp] = 0
        // RFC 1624: HC' = ~(~HC + ~m + m'), m = 0x0800 (type 8, code 0), m' = 0x0000.
        let old = UInt32(p[icmp + 2]) << 8 | UInt32(p[icmp + 3])
        var sum = (~old & 0xffff) + (~UInt32(0x0800) & 0xffff)
        while sum >> 16 != 0 { sum = (sum & 0xffff) + (sum >> 16) }
        let new = ~sum & 0xffff
        p[icmp + 2] = UInt8(new >> 8)
        p[icmp + 3] = UInt8(new & 0xff)
        replies += 1
        return UInt64(XDPAction.tx.rawValue)
    }
    var redirectTarget: RedirectTarget? { nil }

    private func swapAt(_ p: UnsafeMutablePointer<UInt8>, _ a: Int, _ b: Int) {
        let t = p[a]
        p[a] = p[b]
        p[b] = t
    }
}

/// Drops UDP to `blockedPort` (counted), passes everything else.
struct UDPPortFirewall: FrameProcessor {
    let blockedPort: UInt16
    var blocked = 0
    var passed = 0
    mutating func process(_ frame: inout Frame) -> UInt64 {
        if udpDestinationPort(frame) == blockedPort {
            blocked += 1
            return dropVerdict
        }
        passed += 1
        return UInt64(XDPAction.pass.rawValue)
    }
    var redirectTarget: RedirectTarget? { nil }
}

/// Misbehaves in turn: an unknown return value, a frame moved before its buffer, a frame grown past its buffer.
struct MisbehavingProcessor: FrameProcessor {
    var calls = 0
    mutating func process(_ frame: inout Frame) -> UInt64 {
        calls += 1
        switch calls % 3 {
        case 0: return 77
        case 1:
            frame.dataOffset = -1
            return UInt64(XDPAction.tx.rawValue)
        default:
            frame.length = frame.bufferSize
            return UInt64(XDPAction.tx.rawValue)
        }
    }
    var redirectTarget: RedirectTarget? { nil }
}

/// Returns the same verdict for every frame.
struct ConstantVerdict: FrameProcessor {
    let action: XDPAction
    var frames = 0
    mutating func process(_ frame: inout Frame) -> UInt64 {
        frames += 1
        return UInt64(action.rawValue)
    }
    var redirectTarget: RedirectTarget? { nil }
}

/// Forwards UDP frames arriving on `fromIfindex` to `toIfindex`, rewriting the MACs for the far side; drops the rest.
struct UDPForwarder: FrameProcessor {
    let fromIfindex: UInt32
    let toIfindex: UInt32
    let sourceMAC: [UInt8]
    let destinationMAC: [UInt8]
    var forwarded = 0
    var redirectTarget: RedirectTarget?

    mutating func process(_ frame: inout Frame) -> UInt64 {
        guard frame.ingressIfindex == fromIfindex, udpDestinationPort(frame) != nil else {
            redirectTarget = nil
            return dropVerdict
        }
        let p = frame.data.assumingMemoryBound(to: UInt8.self)
        for i in 0..<6 {
            p[i] = destinationMAC[i]
            p[6 + i] = sourceMAC[i]
        }
        forwarded += 1
        redirectTarget = .interface(ifindex: toIfindex)
        return UInt64(XDPAction.redirect.rawValue)
    }
}

/// The UDP destination port of an untagged Ethernet/IPv4/UDP frame, or nil.
func udpDestinationPort(_ frame: Frame) -> UInt16? {
    let p = frame.data.assumingMemoryBound(to: UInt8.self)
    let n = frame.length
    guard n >= 42, p[12] == 0x08, p[13] == 0x00, p[14] >> 4 == 4, p[23] == 17 else { return nil }
    let udp = 14 + Int(p[14] & 0x0f) * 4
    guard n >= udp + 8 else { return nil }
    return UInt16(p[udp + 2]) << 8 | UInt16(p[udp + 3])
}
