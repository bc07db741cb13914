#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Checked sizes of tensors whose shapes come from outside (model files, `.npy` files, engine
/// files, flags): the one place element counts, byte counts and strides are computed with
/// overflow checks, so that every later `reduce(1, *)` on a checked shape is safe.
///
/// A shape is accepted when each dim is in `0...maxDim` and the product of its dims, zeros
/// counted as ones, is at most `maxElements`. Counting zeros as ones matters: a shape with one
/// zero dim has no elements, but its strides are still products of the other dims.
///
///     try TensorSize.elementCount([2, 3], of: "input 'x'")       // 6
///     try TensorSize.byteCount([2, 3], .f32, of: "input 'x'")     // 24
public enum TensorSize {
    /// The largest dim accepted: 2^40.
    public static let maxDim = 1 << 40
    /// The largest product of dims (zeros as ones) accepted: 2^52, so that byte counts of any
    /// dtype, rounded up to any alignment, and every stride fit in an `Int`.
    public static let maxElements = 1 << 52

    /// The number of elements of `shape`, or an error naming `what` when a dim is negative or
    /// absurd, or the dims' product is too large.
    public static func elementCount(_ shape: [Int], of what: @autoclosure () -> String) throws -> Int {
        var extent = 1
        var hasZero = false
        for d in shape {
            guard d >= 0, d <= maxDim else {
                throw EmberError(.invalidArgument, "\(what()) has shape \(shape): dim \(d) is outside 0...\(maxDim)")
            }
            if d == 0 { hasZero = true; continue }
            let (product, overflow) = extent.multipliedReportingOverflow(by: d)
            guard !overflow, product <= maxElements else {
                throw EmberError(.invalidArgument, "\(what()) has shape \(shape), whose size is larger than \(maxElements) elements")
            }
            extent = product
        }
        return hasZero ? 0 : extent
    }

    /// The bytes of a tensor of `shape` and `dtype`, checked as `elementCount` is.
    public static func byteCount(_ shape: [Int], _ dtype: DType, of what: @autoclosure () -> String) throws -> Int {
        try elementCount(shape, of: what()) * dtype.byteSize
    }

    /// `a * b`, or an error naming `what` on overflow.
    public static func product(_ a: Int, _ b: Int, of what: @autoclosure () -> String) throws -> Int {
        let (r, overflow) = a.multipliedReportingOverflow(by: b)
        guard !overflow else { throw EmberError(.invalidArgument, "\(what()): size \(a) * \(b) overflows") }
        return r
    }

    /// `a + b`, or an error naming `what` on overflow.
    public static func sum(_ a: Int, _ b: Int, of what: @autoclosure () -> String) throws -> Int {
        let (r, overflow) = a.addingReportingOverflow(b)
        guard !overflow else { throw EmberError(.invalidArgument, "\(what()): size \(a) + \(b) overflows") }
        return r
    }
}

/// The most memory a run's buffers may take: refused before anything is allocated when a plan or a
/// single tensor would exceed it. The default is 3/4 of physical memory; `EMBER_MAX_MEMORY`
/// (e.g. `2G`, `512M`, `1000000`) sets it for the library, and the CLI's `--max-memory` overrides both.
public enum MemoryLimit {
    /// Set once by the CLI before any work starts; read by every backend.
    nonisolated(unsafe) private static var override: Int?

    /// The limit in bytes now in force.
    public static var bytes: Int {
        if let override { return override }
        return fromEnvironment
    }

    private static let fromEnvironment: Int = {
        if let text = ProcessInfo.processInfo.environment["EMBER_MAX_MEMORY"], let v = try? parse(text) { return v }
        return Int(clamping: ProcessInfo.processInfo.physicalMemory / 4 * 3)
    }()

    /// Sets the limit for this process (the CLI's `--max-memory`).
    public static func set(_ bytes: Int) { override = bytes }

    /// `2G`, `512M`, `64K`, `1T` (powers of 1024) or a plain byte count.
    public static func parse(_ text: String) throws -> Int {
        let t = text.trimmingCharacters(in: .whitespaces).uppercased()
        let units: [(String, Int)] = [("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)]
        var digits = t.hasSuffix("IB") ? String(t.dropLast(2)) : t.hasSuffix("B") ? String(t.dropLast()) : t
        var scale = 1
        for (suffix, s) in units where digits.hasSuffix(suffix) {
            digits = String(digits.dropLast())
            scale = s
            break
        }
        guard let v = Double(digits), v.isFinite, v > 0, v * Double(scale) < 9.0e18 else {
            throw EmberError(.invalidArgument, "memory size '\(text)' is not a size such as 2G, 512M or 1000000")
        }
        return Int(v * Double(scale))
    }

    /// Throws unless `bytes` fit within the limit; `what` names the value (or the plan) they are for.
    public static func check(_ bytes: Int, for what: @autoclosure () -> String) throws {
        let limit = self.bytes
        guard bytes <= limit else {
            throw EmberError(
                .invalidArgument,
                "\(what()) needs \(describe(bytes)), more than the memory limit of \(describe(limit)) (set it with --max-memory or EMBER_MAX_MEMORY)")
        }
    }

    /// `1.5 GiB`, `12 MiB`, `300 bytes`.
    public static func describe(_ bytes: Int) -> String {
        let units: [(String, Double)] = [("TiB", 1_099_511_627_776), ("GiB", 1_073_741_824), ("MiB", 1_048_576), ("KiB", 1024)]
        for (name, size) in units where Double(bytes) >= size {
            return "\(String(format: "%.1f", Double(bytes) / size)) \(name)"
        }
        return "\(bytes) bytes"
    }
}
