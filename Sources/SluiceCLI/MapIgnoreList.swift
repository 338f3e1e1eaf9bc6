import BPFVM
import Sluice

/// `--ignore-map NAME` and `--ignore-key NAME:KEYHEX`, checked against the program's maps.
enum MapIgnoreList {
    struct Problem: Error, CustomStringConvertible {
        var description: String
    }

    /// `NAME:KEYHEX` split at the last colon (map names never hold one; `.rodata` and kin have dots); nil if malformed.
    static func parseKey(_ text: String) -> (map: String, key: [UInt8])? {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        let name = String(text[..<colon])
        guard !name.isEmpty, let key = Hex.bytes(String(text[text.index(after: colon)...])), !key.isEmpty else {
            return nil
        }
        return (name, key)
    }

    static func options(maps: [String], keys: [String], in specs: [MapSpec]) throws(Problem) -> MapComparison.Options {
        var options = MapComparison.Options()
        let names = specs.map(\.name)
        func check(_ name: String, _ option: String) throws(Problem) -> MapSpec {
            guard let spec = specs.first(where: { $0.name == name }) else {
                throw Problem(
                    description:
                        "\(option) \(name): the program has no such map (maps: \(names.joined(separator: ", ")))")
            }
            return spec
        }
        for name in maps {
            _ = try check(name, "--ignore-map")
            options.ignoredMaps.insert(name)
        }
        for text in keys {
            guard let (name, key) = parseKey(text) else {
                throw Problem(description: "--ignore-key \(text): not NAME:KEYHEX")
            }
            let spec = try check(name, "--ignore-key")
            guard key.count == spec.keySize else {
                throw Problem(
                    description:
                        "--ignore-key \(text): map \(name) has \(spec.keySize)-byte keys, this key has \(key.count) bytes"
                )
            }
            options.ignoredKeys[name, default: []].insert(key)
        }
        return options
    }
}
