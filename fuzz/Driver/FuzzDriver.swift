import EmberFuzzTargets
import Foundation

/// `ember-fuzz TARGET ...`: with `-DEMBER_FUZZ` and `-sanitize=fuzzer` (`make fuzz`), libFuzzer
/// over one reader, taking libFuzzer's own arguments after the target; in a plain build, reads
/// each file named after the target and prints what the reader made of it.
@main
struct FuzzDriver {
    static func main() {
        var arguments = CommandLine.arguments
        guard arguments.count >= 2, let target = FuzzTarget(rawValue: arguments[1]) else {
            let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")
            FileHandle.standardError.write(Data("usage: ember-fuzz \(names) [libFuzzer flags | files...]\n".utf8))
            exit(2)
        }
        arguments.remove(at: 1)
        #if EMBER_FUZZ
        exit(fuzz(target, arguments))
        #else
        var failed = false
        for path in arguments.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else {
                print("\(path): cannot read")
                failed = true
                continue
            }
            do {
                switch try target.run(data) {
                case .accepted: print("\(path): accepted")
                case .refused(let message): print("\(path): refused: \(message)")
                }
            } catch {
                print("\(path): \(error)")
                failed = true
            }
        }
        exit(failed ? 1 : 0)
        #endif
    }
}

#if EMBER_FUZZ
/// libFuzzer's entry point for a program with its own `main`.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

nonisolated(unsafe) var fuzzedTarget = FuzzTarget.onnx

func fuzz(_ target: FuzzTarget, _ arguments: [String]) -> CInt {
    fuzzedTarget = target
    var argc = CInt(arguments.count)
    var cStrings: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    return cStrings.withUnsafeMutableBufferPointer { buffer in
        var argv = buffer.baseAddress
        return LLVMFuzzerRunDriver(&argc, &argv) { bytes, count in
            let data = bytes.map { Data(bytes: $0, count: count) } ?? Data()
            do {
                _ = try fuzzedTarget.run(data)
            } catch {
                // A finding: abort so libFuzzer saves the input.
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                abort()
            }
            return 0
        }
    }
}
#endif
