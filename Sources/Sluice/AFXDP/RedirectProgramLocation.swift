#if canImport(Glibc)
    import Glibc
#endif

/// Where Sluice's kernel-side redirect object (`sluice_redirect.o`, built by `programs/build.sh`) is found when the
/// user names none, so that `sluice run` works from any directory.
///
/// Searched in order: `$SLUICE_REDIRECT_PROGRAM`; next to the executable; `../lib/sluice/` and `../share/sluice/`
/// beside the executable's directory (the layout `scripts/install.sh` makes); `programs/build/` in the source tree
/// the executable was built in (found by walking up from `.build/…/sluice`); `programs/build/` under the current
/// directory.
public enum RedirectProgramLocation {
    public static let fileName = "sluice_redirect.o"
    public static let environmentVariable = "SLUICE_REDIRECT_PROGRAM"

    /// The candidate paths, in the order they are tried.
    public static func candidates(
        executablePath: String? = currentExecutablePath(), environmentValue: String? = environmentPath(),
        currentDirectory: String? = currentDirectoryPath()
    ) -> [String] {
        var paths: [String] = []
        if let environmentValue, !environmentValue.isEmpty { paths.append(environmentValue) }
        if let executablePath, let directory = parent(of: executablePath) {
            paths.append(directory + "/" + fileName)
            if let prefix = parent(of: directory) {
                paths.append(prefix + "/lib/sluice/" + fileName)
                paths.append(prefix + "/share/sluice/" + fileName)
            }
            // A build tree: .build/release/sluice, .build/x86_64-unknown-linux-gnu/debug/sluice, or a test bundle
            // one level deeper. The package root is the directory holding `.build`.
            var walk = directory
            for _ in 0..<5 {
                guard let up = parent(of: walk) else { break }
                if lastComponent(walk).hasPrefix(".build") {
                    paths.append(up + "/programs/build/" + fileName)
                    break
                }
                walk = up
            }
        }
        if let currentDirectory { paths.append(currentDirectory + "/programs/build/" + fileName) }
        var seen = Set<String>()
        return paths.filter { seen.insert($0).inserted }
    }

    /// The first candidate that is a readable regular file, or nil.
    public static func locate(in candidates: [String] = candidates()) -> String? {
        candidates.first(where: isReadableRegularFile)
    }

    static func isReadableRegularFile(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return false }
        return access(path, R_OK) == 0
    }

    public static func currentExecutablePath() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func environmentPath() -> String? {
        getenv(environmentVariable).map { String(cString: $0) }
    }

    public static func currentDirectoryPath() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return nil }
        return String(cString: buffer)
    }

    private static func parent(of path: String) -> String? {
        guard let slash = path.lastIndex(of: "/") else { return nil }
        let parent = String(path[..<slash])
        return parent.isEmpty ? (path == "/" ? nil : "/") : parent
    }

    private static func lastComponent(_ path: String) -> String {
        path.lastIndex(of: "/").map { String(path[path.index(after: $0)...]) } ?? path
    }
}
