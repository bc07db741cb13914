import EmberFuzzTargets
import Foundation

/// `ember-fuzz TARGET FILE...` reads each file with the target's reader and prints what it made of
/// it. Built with `-DEMBER_FUZZ` and `-sanitize=fuzzer` (`make fuzz`), `ember-fuzz TARGET ...` is
/// libFuzzer over that reader instead, taking libFuzzer's own arguments after the target.
@main
struct FuzzDriver {
    static func main() {
        var arguments = CommandLine.arguments
        guard arguments.count >= 2, let target = FuzzTarget(rawValue: arguments[1]) else {
            let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")
            FileHandle.standardError.write(Data("usage: ember-fuzz \(names) FILE...\n".utf8))
            exit(2)
        }
        #if EMBER_FUZZ
        arguments.remove(at: 1)
        exit(fuzz(target, arguments))
        #else
        arguments.removeFirst(2)
        var failed = false
        for path in arguments {
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
/// libFuzzer's driver, for a program with its own `main`.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// The reader being fuzzed.
nonisolated(unsafe) var fuzzedTarget = FuzzTarget.onnx

/// Runs libFuzzer over `target` with libFuzzer's `arguments` (the program's name first).
func fuzz(_ target: FuzzTarget, _ arguments: [String]) -> CInt {
    fuzzedTarget = target
    var argc = CInt(arguments.count)
    var cArguments: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    return cArguments.withUnsafeMutableBufferPointer { buffer in
        var argv = buffer.baseAddress
        return LLVMFuzzerRunDriver(&argc, &argv, fuzzOneInput)
    }
}

/// One input for the reader; also libFuzzer's entry point where the linker takes its `main`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = bytes.map { Data(bytes: $0, count: count) } ?? Data()
    do {
        _ = try fuzzedTarget.run(data)
    } catch {
        // A finding: abort, so that libFuzzer saves the input.
        FileHandle.standardError.write(Data("\(error)\n".utf8))
        abort()
    }
    return 0
}
#endif
