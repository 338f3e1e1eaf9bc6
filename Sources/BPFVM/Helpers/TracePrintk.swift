/// `long bpf_trace_printk(const char *fmt, u32 fmt_size, ...)` (6): the kernel's format rules
/// (`bpf_bprintf_prepare`, kernel/bpf/helpers.c) and `vsprintf`'s output for the conversions Sluice can print, written
/// into the environment's fixed `TraceBuffer` without allocating.
///
/// Accepted exactly as the kernel accepts them: `%%`, flags `0 + - space`, a width, `%c`, and `%d %i %u %x %X` with
/// `l` or `ll` (at most 3 conversions; every format byte printable ASCII or white space; a NUL within `fmt_size`).
/// `%p`, `%pK`, `%px` print the value in hex, 16 zero-padded digits unless a width is given (the kernel prints a
/// hashed value for `%p` and `%pK`, so only their length matches); letters and digits right after `%p` are swallowed,
/// as vsprintf does.
/// Refused with `-EINVAL` although the kernel accepts them, because they read kernel memory: `%s`, `%pks`, `%pus`,
/// `%pB`, `%ps`, `%pS`, `%pI4`, `%pi4`, `%pI6`, `%pi6`. Use `check(format:)` to refuse such programs at load time.
///
/// Each call appends one record: the message (cut at 1023 bytes like the kernel's 1024-byte buffer) and a `\n` unless
/// the message already ends with one. A record that does not fit in the remaining capacity is dropped whole and
/// counted in `dropped`. The return value is the kernel's: the length of the full message.
public enum TracePrintk {
    /// `MAX_BPRINTF_BUF - 1`.
    public static let maxMessageLength = 1023
    /// `MAX_TRACE_PRINTK_VARARGS`.
    public static let maxArguments = 3

    public static let helper: HelperFunction = { env, format, formatSize, a1, a2, a3 in
        guard let fmt = UnsafePointer<UInt8>(bitPattern: UInt(format)) else { return HelperResult.invalidArgument }
        let size = Int(UInt32(truncatingIfNeeded: formatSize))
        guard case .valid(let length) = TracePrintk.scan(fmt, size) else { return HelperResult.invalidArgument }
        let e = env.unsafelyUnwrapped.assumingMemoryBound(to: ExecutionEnvironment.self)
        guard let trace = e.pointee.trace else {
            var writer = MessageWriter(base: nil, limit: 0)
            TracePrintk.format(fmt, length, a1, a2, a3, into: &writer)
            return UInt64(writer.length)
        }
        let room = trace.pointee.capacity - trace.pointee.count
        var writer = MessageWriter(base: trace.pointee.bytes + trace.pointee.count, limit: min(room, maxMessageLength))
        TracePrintk.format(fmt, length, a1, a2, a3, into: &writer)
        let stored = min(writer.length, maxMessageLength)
        guard stored <= room else {
            trace.pointee.dropped += 1
            return UInt64(writer.length)
        }
        let needsNewline = stored == 0 || trace.pointee.bytes[trace.pointee.count + stored - 1] != UInt8(ascii: "\n")
        let recordLength = stored + (needsNewline ? 1 : 0)
        if recordLength <= room {
            if needsNewline { trace.pointee.bytes[trace.pointee.count + stored] = UInt8(ascii: "\n") }
            trace.pointee.count += recordLength
        } else {
            trace.pointee.dropped += 1
        }
        return UInt64(writer.length)
    }

    /// Why Sluice would refuse `format` (the bytes the program passes, including its NUL), or nil if it prints it.
    public static func check(format: [UInt8]) -> String? {
        format.withUnsafeBufferPointer { buffer -> String? in
            guard let base = buffer.baseAddress else { return FormatProblem.missingTerminator.description }
            if case .invalid(let problem, let index) = scan(base, buffer.count) {
                return index < 0 ? problem.description : "\(problem.description) at byte \(index)"
            }
            return nil
        }
    }

    /// What is wrong with a format.
    public enum FormatProblem: Sendable, CustomStringConvertible {
        case missingTerminator, invalidCharacter, tooManyConversions, invalidConversion, readsKernelMemory

        public var description: String {
            switch self {
            case .missingTerminator: "format has no NUL terminator within its size"
            case .invalidCharacter: "format contains a byte that is not printable ASCII or white space"
            case .tooManyConversions: "format has more than 3 conversions"
            case .invalidConversion: "format has a conversion the kernel does not accept"
            case .readsKernelMemory:
                "format has a conversion that reads memory (%s, %pks, %pus, %pB, %ps, %pS, %pI4, %pI6), "
                    + "which Sluice does not support"
            }
        }
    }

    enum ScanResult {
        /// The format is fine; its length up to the NUL.
        case valid(length: Int)
        /// `index` is the byte where the problem was found, -1 if none.
        case invalid(FormatProblem, index: Int)
    }

    /// `bpf_bprintf_prepare`'s checks, plus Sluice's refusals. Reads at most `size` bytes.
    static func scan(_ f: UnsafePointer<UInt8>, _ size: Int) -> ScanResult {
        var n = 0
        while n < size && f[n] != 0 { n += 1 }
        if n == size { return .invalid(.missingTerminator, index: -1) }
        // From here on f[n] == 0, so reading f[i + 1] or f[i + 2] after a non-NUL byte stays inside the format.
        var i = 0
        var conversions = 0
        while i < n {
            let c = f[i]
            if c >= 0x80 || !(isPrintable(c) || isSpace(c)) { return .invalid(.invalidCharacter, index: i) }
            if c != UInt8(ascii: "%") {
                i += 1
                continue
            }
            if f[i + 1] == UInt8(ascii: "%") {
                i += 2
                continue
            }
            if conversions >= maxArguments { return .invalid(.tooManyConversions, index: i) }
            let start = i
            i += 1
            while isFlag(f[i]) { i += 1 }
            if f[i] >= UInt8(ascii: "1") && f[i] <= UInt8(ascii: "9") {
                while isDigit(f[i]) { i += 1 }
            }
            switch f[i] {
            case UInt8(ascii: "p"):
                let next = f[i + 1]
                if (next == UInt8(ascii: "k") || next == UInt8(ascii: "u")) && f[i + 2] == UInt8(ascii: "s") {
                    return isStringEnd(f[i + 3])
                        ? .invalid(.readsKernelMemory, index: start) : .invalid(.invalidConversion, index: start)
                }
                if next == 0 || isSpace(next) || isPunctuation(next) || next == UInt8(ascii: "K")
                    || next == UInt8(ascii: "x")
                {
                    i += 2  // the kernel skips the byte after %p unchecked
                } else if next == UInt8(ascii: "s") || next == UInt8(ascii: "S") || next == UInt8(ascii: "B") {
                    return .invalid(.readsKernelMemory, index: start)
                } else if (next == UInt8(ascii: "i") || next == UInt8(ascii: "I"))
                    && (f[i + 2] == UInt8(ascii: "4") || f[i + 2] == UInt8(ascii: "6"))
                {
                    return .invalid(.readsKernelMemory, index: start)
                } else {
                    return .invalid(.invalidConversion, index: start)
                }
            case UInt8(ascii: "s"):
                return isStringEnd(f[i + 1])
                    ? .invalid(.readsKernelMemory, index: start) : .invalid(.invalidConversion, index: start)
            case UInt8(ascii: "c"):
                i += 1
            default:
                if f[i] == UInt8(ascii: "l") { i += 1 }
                if f[i] == UInt8(ascii: "l") { i += 1 }
                switch f[i] {
                case UInt8(ascii: "i"), UInt8(ascii: "d"), UInt8(ascii: "u"), UInt8(ascii: "x"), UInt8(ascii: "X"):
                    i += 1
                default:
                    return .invalid(.invalidConversion, index: start)
                }
            }
            conversions += 1
        }
        return .valid(length: n)
    }

    /// Formats a format `scan` accepted, as the kernel's `bstr_printf` would.
    static func format(
        _ f: UnsafePointer<UInt8>, _ n: Int, _ a1: UInt64, _ a2: UInt64, _ a3: UInt64, into w: inout MessageWriter
    ) {
        var i = 0
        var argument = 0
        while i < n {
            let c = f[i]
            if c != UInt8(ascii: "%") {
                w.put(c)
                i += 1
                continue
            }
            if f[i + 1] == UInt8(ascii: "%") {
                w.put(c)
                i += 2
                continue
            }
            i += 1
            var spec = NumberSpec()
            while isFlag(f[i]) {
                switch f[i] {
                case UInt8(ascii: "-"): spec.left = true
                case UInt8(ascii: "+"): spec.plus = true
                case UInt8(ascii: " "): spec.space = true
                default: spec.zero = true
                }
                i += 1
            }
            while isDigit(f[i]) {
                spec.width = min(spec.width * 10 + Int(f[i] - UInt8(ascii: "0")), maxFieldWidth)
                i += 1
            }
            let value = argument == 0 ? a1 : argument == 1 ? a2 : a3
            argument += 1
            switch f[i] {
            case UInt8(ascii: "p"):
                i += 1
                while isAlphanumeric(f[i]) { i += 1 }  // vsprintf swallows the %p extension letters
                if spec.width == 0 {  // vsprintf's pointer_string: 2 * sizeof(void *) digits, zero-padded
                    spec.width = 16
                    spec.zero = true
                }
                spec.plus = false
                spec.space = false
                w.number(magnitude: value, negative: false, base: 16, uppercase: false, spec)
            case UInt8(ascii: "c"):
                i += 1
                if !spec.left { w.repeating(UInt8(ascii: " "), spec.width - 1) }
                w.put(UInt8(truncatingIfNeeded: value))
                if spec.left { w.repeating(UInt8(ascii: " "), spec.width - 1) }
            default:
                var wide = false
                while f[i] == UInt8(ascii: "l") {
                    wide = true
                    i += 1
                }
                let conversion = f[i]
                i += 1
                let signed = conversion == UInt8(ascii: "d") || conversion == UInt8(ascii: "i")
                let bits: UInt64 = wide ? value : UInt64(UInt32(truncatingIfNeeded: value))
                if signed {
                    let v = wide ? Int64(bitPattern: value) : Int64(Int32(truncatingIfNeeded: value))
                    w.number(magnitude: v.magnitude, negative: v < 0, base: 10, uppercase: false, spec)
                } else {
                    let base: UInt64 = conversion == UInt8(ascii: "u") ? 10 : 16
                    spec.plus = false  // sign flags apply to %d and %i only
                    spec.space = false
                    w.number(
                        magnitude: bits, negative: false, base: base, uppercase: conversion == UInt8(ascii: "X"), spec)
                }
            }
        }
    }

    /// vsprintf's `FIELD_WIDTH_MAX`.
    static let maxFieldWidth = (1 << 23) - 1

    @inline(__always) static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
    @inline(__always) static func isFlag(_ c: UInt8) -> Bool {
        c == UInt8(ascii: "0") || c == UInt8(ascii: "+") || c == UInt8(ascii: "-") || c == UInt8(ascii: " ")
    }
    /// Kernel `isprint`: 0x20...0x7e.
    @inline(__always) static func isPrintable(_ c: UInt8) -> Bool { c >= 0x20 && c <= 0x7e }
    /// Kernel `isspace`: space, \t \n \v \f \r.
    @inline(__always) static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || (c >= 0x09 && c <= 0x0d) }
    @inline(__always) static func isAlphanumeric(_ c: UInt8) -> Bool {
        isDigit(c) || (c | 0x20 >= UInt8(ascii: "a") && c | 0x20 <= UInt8(ascii: "z"))
    }
    /// Kernel `ispunct`: printable, not space, not alphanumeric.
    @inline(__always) static func isPunctuation(_ c: UInt8) -> Bool {
        c > 0x20 && c <= 0x7e && !isAlphanumeric(c)
    }
    /// What may follow `%s` for the kernel to accept it.
    @inline(__always) static func isStringEnd(_ c: UInt8) -> Bool { c == 0 || isSpace(c) || isPunctuation(c) }
}

/// printf flags and width of one conversion.
struct NumberSpec {
    var left = false
    var plus = false
    var space = false
    var zero = false
    var width = 0
}

/// Writes a message into fixed memory: keeps the first `limit` bytes and counts all of them.
struct MessageWriter {
    let base: UnsafeMutablePointer<UInt8>?
    let limit: Int
    /// Bytes the full message has (what `bpf_trace_printk` returns); only `min(length, limit)` are stored.
    var length = 0

    init(base: UnsafeMutablePointer<UInt8>?, limit: Int) {
        self.base = base
        self.limit = base == nil ? 0 : max(limit, 0)
    }

    @inline(__always)
    mutating func put(_ byte: UInt8) {
        if length < limit { base.unsafelyUnwrapped[length] = byte }
        length += 1
    }

    @inline(__always)
    mutating func repeating(_ byte: UInt8, _ count: Int) {
        guard count > 0 else { return }
        if length < limit {
            let stored = min(count, limit - length)
            (base.unsafelyUnwrapped + length).update(repeating: byte, count: stored)
        }
        length += count
    }

    /// vsprintf's `number()`: sign, then zero padding or space padding to `width`, then digits.
    mutating func number(magnitude: UInt64, negative: Bool, base: UInt64, uppercase: Bool, _ spec: NumberSpec) {
        var digits = 1
        var scale: UInt64 = 1
        while magnitude / scale >= base {
            scale *= base
            digits += 1
        }
        let sign: UInt8? =
            negative ? UInt8(ascii: "-") : spec.plus ? UInt8(ascii: "+") : spec.space ? UInt8(ascii: " ") : nil
        let padding = spec.width - digits - (sign == nil ? 0 : 1)
        let zeroPad = spec.zero && !spec.left
        if !spec.left && !zeroPad { repeating(UInt8(ascii: " "), padding) }
        if let sign { put(sign) }
        if zeroPad { repeating(UInt8(ascii: "0"), padding) }
        var rest = magnitude
        while scale > 0 {
            let digit = UInt8(truncatingIfNeeded: rest / scale)
            rest %= scale
            scale /= base
            put(
                digit < 10
                    ? UInt8(ascii: "0") + digit : (uppercase ? UInt8(ascii: "A") : UInt8(ascii: "a")) + digit - 10)
        }
        if spec.left { repeating(UInt8(ascii: " "), padding) }
    }
}
