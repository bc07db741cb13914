import EmberCUDADriver
import EmberIR

/// One GPU as the driver sees it, with the properties kernels are built and tuned for.
///
///     let device = try CUDADevice(ordinal: 0)
///     print(device.name, device.architecture)   // NVIDIA H100 80GB HBM3 sm_90
public struct CUDADevice: Sendable, Equatable {
    public let ordinal: Int
    let handle: CUdevice
    public let name: String
    public let computeCapability: (major: Int, minor: Int)
    public let multiprocessorCount: Int
    public let totalMemoryBytes: Int
    public let l2CacheBytes: Int
    /// The most shared memory one block can ask for after raising its limit.
    public let maxSharedMemoryPerBlock: Int

    public init(ordinal: Int) throws {
        try CUDADriver.initialize()
        let count = try CUDADevice.count()
        guard (0..<count).contains(ordinal) else {
            throw EmberError(.invalidArgument, "[cuda] device \(ordinal) requested, but \(count) devices exist")
        }
        var device: CUdevice = 0
        try CUDAStatus.check(ember_cuDeviceGet(&device, Int32(ordinal)), "cuDeviceGet")
        var nameBuffer = [CChar](repeating: 0, count: 256)
        try CUDAStatus.check(ember_cuDeviceGetName(&nameBuffer, Int32(nameBuffer.count), device), "cuDeviceGetName")
        var memory = 0
        try CUDAStatus.check(ember_cuDeviceTotalMem_v2(&memory, device), "cuDeviceTotalMem")
        func attribute(_ which: Int32) throws -> Int {
            var value: Int32 = 0
            try CUDAStatus.check(ember_cuDeviceGetAttribute(&value, which, device), "cuDeviceGetAttribute")
            return Int(value)
        }
        self.ordinal = ordinal
        handle = device
        name = String(decoding: nameBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        computeCapability = (
            try attribute(EMBER_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
            try attribute(EMBER_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)
        )
        multiprocessorCount = try attribute(EMBER_CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
        l2CacheBytes = try attribute(EMBER_CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE)
        maxSharedMemoryPerBlock = try attribute(EMBER_CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)
        totalMemoryBytes = memory
    }

    /// How many CUDA devices the driver sees.
    public static func count() throws -> Int {
        try CUDADriver.initialize()
        var count: Int32 = 0
        try CUDAStatus.check(ember_cuDeviceGetCount(&count), "cuDeviceGetCount")
        return Int(count)
    }

    /// The NVRTC target for this device's own machine code: `sm_90` on an H100.
    public var architecture: String { "sm_\(computeCapability.major)\(computeCapability.minor)" }

    public static func == (a: CUDADevice, b: CUDADevice) -> Bool { a.ordinal == b.ordinal }
}

/// The driver as a whole: initialized once per process.
public enum CUDADriver {
    /// Loads libcuda and runs `cuInit`; throws the reason the driver is unusable (no library, no
    /// device, a driver too old) every time it is asked.
    public static func initialize() throws {
        if let failure = initialization { throw failure }
    }

    /// The driver's CUDA version, such as 13000 for CUDA 13.0.
    public static func version() throws -> Int {
        try initialize()
        var version: Int32 = 0
        try CUDAStatus.check(ember_cuDriverGetVersion(&version), "cuDriverGetVersion")
        return Int(version)
    }

    private static let initialization: EmberError? = {
        do {
            try CUDALibrary.driver.require()
            try CUDAStatus.check(ember_cuInit(0), "cuInit")
            return nil
        } catch let error as EmberError {
            return error
        } catch {
            return EmberError(.internalError, "[cuda] \(error)")
        }
    }()
}
