import EmberChecksum
import EmberIR
import EmberONNX
import EmberRuntime
import EmberTorch
import Foundation

/// The readers of untrusted files, each as a function of the file's bytes, for the fuzzer
/// (`make fuzz`) and for replaying its corpus in the tests.
///
/// A reader may refuse any input, but only by throwing an `EmberError`: a trap, a crash, a hang,
/// an unbounded allocation or any other error type is a bug the fuzzer reports.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// ONNX model bytes, decoded and imported as a graph.
    case onnx
    /// A `.pt2` archive (torch.export.save), read and imported as a graph.
    case pt2
    /// An engine file, loaded as an engine.
    case engine
    /// A NumPy `.npy` file, read as a tensor.
    case npy

    /// The corpus folder of this target below `fuzz/corpus` and `fuzz/regressions`.
    public var folder: String { rawValue }

    /// What reading `data` ended in, when it did not crash.
    public enum Outcome: Equatable, Sendable {
        case accepted
        case refused(String)
    }

    /// Reads `data` with this target's reader. Throws only when the reader failed with something
    /// other than an `EmberError`, which the fuzzer treats as a finding.
    public func run(_ data: Data) throws(UnexpectedError) -> Outcome {
        do {
            switch self {
            case .onnx:
                _ = try ONNXModel(bytes: data, directory: Self.emptyFolder, origin: "fuzz.onnx").importGraph()
            case .pt2:
                _ = try TorchProgram(bytes: data, origin: "fuzz.pt2").importGraph()
            case .engine:
                // Damaged bytes fail the checksum; the same bytes with a matching checksum reach
                // every check after it, as a file written on purpose would.
                _ = try? EngineFile.deserialize(data)
                _ = try EngineFile.deserialize(Self.resealed(data))
            case .npy:
                _ = try Tensor(npy: data)
            }
            return .accepted
        } catch let error as EmberError {
            return .refused(error.message)
        } catch {
            throw UnexpectedError(target: self, error: "\(type(of: error)): \(error)")
        }
    }

    /// A reader failed with an error that is not an `EmberError`.
    public struct UnexpectedError: Error, CustomStringConvertible {
        public let target: FuzzTarget
        public let error: String
        public var description: String { "the \(target.rawValue) reader threw \(error), not an EmberError" }
    }

    /// An empty folder the ONNX reader resolves external data in: a reference to a file it
    /// does not hold is refused like any other.
    static let emptyFolder: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ember-fuzz-\(getpid())", isDirectory: true)
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    /// `data` with the engine trailer's checksum replaced by the checksum of the bytes before it.
    static func resealed(_ data: Data) -> Data {
        guard data.count >= 28 else { return data }
        var sealed = [UInt8](data)
        let end = sealed.count
        let sum = sealed.withUnsafeBytes { ember_checksum($0.baseAddress, end - 12) }
        for i in 0..<8 { sealed[end - 12 + i] = UInt8(truncatingIfNeeded: sum >> (8 * UInt64(i))) }
        return Data(sealed)
    }
}
