import EmberIR

// The kernels of layer, RMS, group and instance norm, in one file so that the generic code
// is specialized for Float and Double where it is called.

/// Mean and (population) variance of `count` elements of `x` from `start`, in two passes
/// for accuracy.
@inline(__always)
private func moments<T: KernelFloat>(_ x: UnsafeBufferPointer<T>, start: Int, count: Int) -> (mean: Double, variance: Double) {
    guard count > 0 else { return (.nan, .nan) }
    var sum = 0.0
    for j in start..<(start + count) { sum += Double(x[j]) }
    let mean = sum / Double(count)
    var squares = 0.0
    for j in start..<(start + count) {
        let d = Double(x[j]) - mean
        squares += d * d
    }
    return (mean, squares / Double(count))
}

/// Normalizes contiguous rows of `size` elements: layer norm (centred) or RMS norm, then
/// `* scale + bias` per position in the row.
struct RowNorm: FloatMap {
    /// Per-row statistics, filled in when requested.
    final class Stats {
        var mean: [Double]
        var invStdDev: [Double]
        /// Statistics for `rows` rows; NaN until computed (as they stay for empty rows).
        init(rows: Int) {
            mean = Array(repeating: .nan, count: rows)
            invStdDev = Array(repeating: .nan, count: rows)
        }
    }

    var size: Int
    var epsilon: Double
    /// RMS norm: no centring, and the "variance" is the mean of squares.
    var rms: Bool
    var scale: [Double] = []
    var bias: [Double]? = nil
    var stats: Stats? = nil

    func run(_ x: UnsafeBufferPointer<Float>, _ y: UnsafeMutableBufferPointer<Float>, shape: [Int]) { kernel(x, y) }
    func run(_ x: UnsafeBufferPointer<Double>, _ y: UnsafeMutableBufferPointer<Double>, shape: [Int]) { kernel(x, y) }

    private func kernel<T: KernelFloat>(_ x: UnsafeBufferPointer<T>, _ y: UnsafeMutableBufferPointer<T>) {
        guard size > 0 else { return }
        let rows = x.count / size
        let zeros = [Double](repeating: 0, count: size)
        scale.withUnsafeBufferPointer { scale in
            (bias ?? zeros).withUnsafeBufferPointer { bias in
                for r in 0..<rows {
                    let start = r * size
                    var mean = 0.0
                    var variance = 0.0
                    if rms {
                        for j in start..<(start + size) { variance += Double(x[j]) * Double(x[j]) }
                        variance /= Double(size)
                    } else {
                        (mean, variance) = moments(x, start: start, count: size)
                    }
                    let inv = 1 / (variance + epsilon).squareRoot()
                    stats?.mean[r] = mean
                    stats?.invStdDev[r] = inv
                    for j in 0..<size { y[start + j] = T((Double(x[start + j]) - mean) * inv * scale[j] + bias[j]) }
                }
            }
        }
    }
}

/// Normalizes `x: [N, C, spatial]` over groups of neighbouring channels (one channel each for
/// instance norm), then applies a per-channel scale and bias.
struct ChannelGroupNorm: FloatMap {
    var groups: Int
    var channels: Int
    var spatial: Int
    var epsilon: Double
    var scale: [Double] = []
    var bias: [Double] = []

    func run(_ x: UnsafeBufferPointer<Float>, _ y: UnsafeMutableBufferPointer<Float>, shape: [Int]) { kernel(x, y) }
    func run(_ x: UnsafeBufferPointer<Double>, _ y: UnsafeMutableBufferPointer<Double>, shape: [Int]) { kernel(x, y) }

    private func kernel<T: KernelFloat>(_ x: UnsafeBufferPointer<T>, _ y: UnsafeMutableBufferPointer<T>) {
        let perGroup = channels / groups
        let groupSize = perGroup * spatial
        guard groupSize > 0 else { return }
        var start = 0
        while start < x.count {
            for g in 0..<groups {
                let (mean, variance) = moments(x, start: start, count: groupSize)
                let inv = 1 / (variance + epsilon).squareRoot()
                for c in (g * perGroup)..<((g + 1) * perGroup) {
                    let (s, b) = (scale[c] * inv, bias[c])
                    for j in start..<(start + spatial) { y[j] = T((Double(x[j]) - mean) * s + b) }
                    start += spatial
                }
            }
        }
    }
}
