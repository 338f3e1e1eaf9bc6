/// The XDP frame helpers, with the kernel's semantics (net/core/filter.c of Linux 6.18, linear buffers: Sluice frames
/// have no fragments). Each works on the `xdp_buff` fields of the `ExecutionEnvironment` it receives first.
///
/// The verifier proves the memory arguments valid; the helpers still make the range checks the kernel makes, against
/// the frame, and fail the same way.
public enum XDPHelpers {
    /// `long bpf_xdp_adjust_head(struct xdp_md *ctx, int delta)` (44): moves `data` by `delta` (negative grows the
    /// packet at the front). The metadata area moves with `data` (memmove). New data must stay at or above
    /// `data_hard_start + sizeof(struct xdp_frame) + metadata length` and at least `ETH_HLEN` bytes before `data_end`,
    /// otherwise `-EINVAL` and nothing changes. Bytes uncovered at the front are NOT cleared (as in the kernel): they
    /// hold whatever the headroom held.
    public static let adjustHead: HelperFunction = { env, _, delta, _, _, _ in
        let e = env.unsafelyUnwrapped.assumingMemoryBound(to: ExecutionEnvironment.self)
        let offset = Int(Int32(truncatingIfNeeded: delta))
        let hardStart = address(e.pointee.hardStart)
        let data = address(e.pointee.data)
        let meta = address(e.pointee.dataMeta)
        let dataEnd = address(e.pointee.dataEnd)
        let metaLength = meta > data ? 0 : data - meta  // data_meta > data: metadata unsupported
        let dataStart = hardStart + XDPFrameLimits.xdpFrameSize + metaLength
        let newData = data + offset
        if newData < dataStart || newData > dataEnd - XDPFrameLimits.minimumLength {
            return HelperResult.invalidArgument
        }
        if metaLength > 0 {
            let from = e.pointee.dataMeta.unsafelyUnwrapped
            (from + offset).copyMemory(from: UnsafeRawPointer(from), byteCount: metaLength)  // memmove
        }
        e.pointee.dataMeta = e.pointee.dataMeta.unsafelyUnwrapped + offset
        e.pointee.data = e.pointee.data.unsafelyUnwrapped + offset
        return 0
    }

    /// `long bpf_xdp_adjust_meta(struct xdp_md *ctx, int delta)` (54): moves `data_meta` by `delta` (negative grows
    /// the metadata area). `-ENOTSUPP` if the frame has no metadata support (`data_meta > data`); `-EINVAL` if the new
    /// `data_meta` would be below `data_hard_start + sizeof(struct xdp_frame)` or above `data`; `-EACCES` if the new
    /// length is not a multiple of 4 or exceeds 255 (so at most 252). The area is not cleared.
    public static let adjustMeta: HelperFunction = { env, _, delta, _, _, _ in
        let e = env.unsafelyUnwrapped.assumingMemoryBound(to: ExecutionEnvironment.self)
        let offset = Int(Int32(truncatingIfNeeded: delta))
        let hardStart = address(e.pointee.hardStart)
        let data = address(e.pointee.data)
        let meta = address(e.pointee.dataMeta)
        if meta > data { return HelperResult.notSupported }
        let newMeta = meta + offset
        if newMeta < hardStart + XDPFrameLimits.xdpFrameSize || newMeta > data { return HelperResult.invalidArgument }
        let metaLength = data - newMeta
        if metaLength & 3 != 0 || metaLength > 255 { return HelperResult.permissionDenied }
        e.pointee.dataMeta = e.pointee.dataMeta.unsafelyUnwrapped + offset
        return 0
    }

    /// `long bpf_xdp_adjust_tail(struct xdp_md *ctx, int delta)` (65): moves `data_end` by `delta`. Growth is limited
    /// by the frame's tailroom (`frameEnd`, the kernel's `data_hard_end`); shrinking keeps at least `ETH_HLEN` bytes.
    /// `-EINVAL` otherwise. Grown bytes are zeroed, as the kernel does.
    public static let adjustTail: HelperFunction = { env, _, delta, _, _, _ in
        let e = env.unsafelyUnwrapped.assumingMemoryBound(to: ExecutionEnvironment.self)
        let offset = Int(Int32(truncatingIfNeeded: delta))
        let data = address(e.pointee.data)
        let dataEnd = address(e.pointee.dataEnd)
        let newEnd = dataEnd + offset
        if newEnd > address(e.pointee.frameEnd) { return HelperResult.invalidArgument }
        if newEnd < data + XDPFrameLimits.minimumLength { return HelperResult.invalidArgument }
        if offset > 0 {
            e.pointee.dataEnd.unsafelyUnwrapped.initializeMemory(as: UInt8.self, repeating: 0, count: offset)
        }
        e.pointee.dataEnd = e.pointee.dataEnd.unsafelyUnwrapped + offset
        return 0
    }

    /// `u64 bpf_xdp_get_buff_len(struct xdp_md *ctx)` (188): `data_end - data` (no fragments in Sluice).
    public static let getBuffLen: HelperFunction = { env, _, _, _, _, _ in
        let e = env.unsafelyUnwrapped.assumingMemoryBound(to: ExecutionEnvironment.self)
        return UInt64(address(e.pointee.dataEnd) - address(e.pointee.data))
    }

    /// `long bpf_xdp_load_bytes(struct xdp_md *ctx, u32 offset, void *buf, u32 len)` (189): copies `len` bytes at
    /// `data + offset` into `buf`. `-EFAULT` if `offset` or `len` exceeds 0xffff, `-EINVAL` if the range passes
    /// `data_end`.
    public static let loadBytes: HelperFunction = { env, _, offset, buffer, length, _ in
        let e = env.unsafelyUnwrapped.assumingMemoryBound(to: ExecutionEnvironment.self)
        guard let source = packetRange(e, offset, length) else { return rangeError(offset, length) }
        if let destination = UnsafeMutableRawPointer(bitPattern: UInt(buffer)), source.count > 0 {
            destination.copyMemory(from: UnsafeRawPointer(source.start), byteCount: source.count)
        }
        return 0
    }

    /// `long bpf_xdp_store_bytes(struct xdp_md *ctx, u32 offset, void *buf, u32 len)` (190): copies `len` bytes from
    /// `buf` to `data + offset`, with the errors of `bpf_xdp_load_bytes`.
    public static let storeBytes: HelperFunction = { env, _, offset, buffer, length, _ in
        let e = env.unsafelyUnwrapped.assumingMemoryBound(to: ExecutionEnvironment.self)
        guard let destination = packetRange(e, offset, length) else { return rangeError(offset, length) }
        if let source = UnsafeRawPointer(bitPattern: UInt(buffer)), destination.count > 0 {
            destination.start.copyMemory(from: source, byteCount: destination.count)
        }
        return 0
    }

    /// `long bpf_redirect(u32 ifindex, u64 flags)` (23), the XDP variant (`bpf_xdp_redirect`): any flag → returns
    /// `XDP_ABORTED` and changes nothing; otherwise records the interface and returns `XDP_REDIRECT`.
    public static let redirect: HelperFunction = { env, ifindex, flags, _, _, _ in
        if flags != 0 { return XDPVerdict.aborted }
        let e = env.unsafelyUnwrapped.assumingMemoryBound(to: ExecutionEnvironment.self)
        e.pointee.redirectKind = .interface
        e.pointee.redirectValue = UInt32(truncatingIfNeeded: ifindex)
        return XDPVerdict.redirect
    }

    @inline(__always)
    static func address(_ pointer: UnsafeMutableRawPointer?) -> Int { Int(bitPattern: pointer) }

    /// `bpf_xdp_pointer` for a linear buffer: the packet bytes `[data + offset, + len)`, or nil when out of range.
    @inline(__always)
    static func packetRange(
        _ e: UnsafeMutablePointer<ExecutionEnvironment>, _ offset: UInt64, _ length: UInt64
    ) -> (start: UnsafeMutableRawPointer, count: Int)? {
        let off = UInt64(UInt32(truncatingIfNeeded: offset))
        let len = UInt64(UInt32(truncatingIfNeeded: length))
        let max = UInt64(XDPFrameLimits.maxAccessOffset)
        guard off <= max, len <= max, let data = e.pointee.data else { return nil }
        let available = UInt64(address(e.pointee.dataEnd) - address(data))
        guard off + len <= available else { return nil }
        return (data + Int(off), Int(len))
    }

    @inline(__always)
    static func rangeError(_ offset: UInt64, _ length: UInt64) -> UInt64 {
        let max = UInt32(XDPFrameLimits.maxAccessOffset)
        return UInt32(truncatingIfNeeded: offset) > max || UInt32(truncatingIfNeeded: length) > max
            ? HelperResult.badAddress : HelperResult.invalidArgument
    }
}
