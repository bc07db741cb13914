import EmberCUDADriver
import EmberIR

/// A cuDNN handle, destroyed when this object goes away. Ember does not run cuDNN kernels yet;
/// the handle proves the library works with the device.
public final class CUDNNHandle: @unchecked Sendable {  // The handle is immutable.
    public let context: CUDAContext
    let handle: cudnnHandle_t?

    /// cuDNN's version, such as 91900 for 9.19.0.
    public static func version() throws -> Int {
        try CUDALibrary.cudnn.require()
        return Int(ember_cudnnGetVersion())
    }

    public init(_ context: CUDAContext) throws {
        try CUDALibrary.cudnn.require()
        try context.bind()
        var handle: cudnnHandle_t?
        try CUDAStatus.checkCUDNN(ember_cudnnCreate(&handle), "cudnnCreate")
        self.context = context
        self.handle = handle
    }

    deinit {
        if let handle { _ = ember_cudnnDestroy(handle) }
    }
}
