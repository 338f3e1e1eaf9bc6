import Foundation

/// Runs a body on a thread of its own whose effective capabilities are only `CAP_BPF` and `CAP_NET_ADMIN`: the
/// least a loader of XDP programs needs. Without `CAP_PERFMON`/`CAP_SYS_ADMIN` the kernel's verifier does not allow
/// pointer leaks (`env->allow_ptr_leaks` is false), which is the policy Sluice's verifier follows for addresses.
///
/// Capabilities are per thread in Linux and glibc's `capset` changes only the calling thread, so the rest of the
/// test process keeps its privileges; the thread ends when the body returns.
enum ReducedCapabilities {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private typealias CapabilityCall = @convention(c) (UnsafeMutableRawPointer, UnsafeMutableRawPointer) -> Int32

    private static let calls: (get: CapabilityCall, set: CapabilityCall)? = {
        guard let handle = dlopen(nil, RTLD_NOW), let get = dlsym(handle, "capget"), let set = dlsym(handle, "capset")
        else { return nil }
        return (unsafeBitCast(get, to: CapabilityCall.self), unsafeBitCast(set, to: CapabilityCall.self))
    }()

    private final class Outcome<T>: @unchecked Sendable {
        var result: Result<T, any Error> = .failure(Failure(description: "the thread did not run"))
    }

    static func run<T>(_ body: @escaping @Sendable () throws -> T) throws -> T {
        guard let calls else { throw Failure(description: "capget/capset not found in libc") }
        let outcome = Outcome<T>()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            defer { done.signal() }
            // struct __user_cap_header_struct { u32 version; int pid; } and two __user_cap_data_struct
            // { u32 effective, permitted, inheritable; } (_LINUX_CAPABILITY_VERSION_3).
            var header: [UInt32] = [0x2008_0522, 0]
            var data = [UInt32](repeating: 0, count: 6)
            let got = header.withUnsafeMutableBytes { h in data.withUnsafeMutableBytes { calls.get(h.baseAddress!, $0.baseAddress!) } }
            guard got == 0 else {
                outcome.result = .failure(Failure(description: "capget failed: errno \(errno)"))
                return
            }
            data[0] = 1 << 12  // CAP_NET_ADMIN
            data[3] = 1 << (39 - 32)  // CAP_BPF
            let set = header.withUnsafeMutableBytes { h in data.withUnsafeMutableBytes { calls.set(h.baseAddress!, $0.baseAddress!) } }
            guard set == 0 else {
                outcome.result = .failure(Failure(description: "capset failed: errno \(errno)"))
                return
            }
            outcome.result = Result { try body() }
        }
        thread.start()
        done.wait()
        return try outcome.result.get()
    }
}
