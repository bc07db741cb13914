/// CUDA C++ for one kernel, with the launch shape it was written for. Shapes are constants in
/// the source, so the compiler folds the index arithmetic; the kernel's parameters are the
/// input buffers, then the output buffers.
public struct CUDAGeneratedKernel: Sendable, Equatable {
    public var source: String
    /// The `extern "C"` function to launch.
    public var entry: String
    public var blocks: Int
    public var threadsPerBlock: Int
    public var sharedBytes: Int = 0
    /// The node's present inputs the kernel takes, by position; nil for all of them. A reduction
    /// reads its axes when it is planned, not when it runs.
    public var reads: [Int]? = nil
}

/// A tensor shape with its dtype, all dims known: what a generated kernel is specialized for.
public struct CUDATensorType: Hashable, Sendable, CustomStringConvertible {
    public var dtype: DType
    public var shape: [Int]
    public init(_ dtype: DType, _ shape: [Int]) {
        self.dtype = dtype
        self.shape = shape
    }
    public var count: Int { shape.reduce(1, *) }
    public var description: String { "\(dtype)\(shape)" }
}

import EmberIR
