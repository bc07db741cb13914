import EmberIR
import Foundation

/// A parameter, buffer or constant as an archive stores it: a strided view of the raw
/// little-endian bytes of one archive entry. The pt2 layout describes it in JSON
/// (`model_weights_config.json`), the older layout in a pickle (`serialized_state_dict.pt`).
struct TorchStoredTensor {
    var dtype: DType
    var shape: [Int]
    var strides: [Int]
    var offset: Int
    /// The archive holding the storage, and the entry's path in it.
    var archive: TorchArchive
    var path: String

    /// The tensor. Sizes, strides and offset are checked against the bytes the entry holds before
    /// anything is allocated for it.
    func load(what: String) throws -> Tensor {
        guard strides.count == shape.count, offset >= 0, shape.allSatisfy({ $0 >= 0 }), strides.allSatisfy({ $0 >= 0 }) else {
            throw EmberError(.invalidModel, "\(what) has sizes \(shape), strides \(strides) and offset \(offset), which do not describe a tensor")
        }
        guard let count = Tensor.elementCount(shape) else {
            throw EmberError(.invalidModel, "\(what) has invalid shape \(shape)")
        }
        let available = try archive.size(of: path) / dtype.byteSize
        // The last element the view reads; every index must lie inside the stored bytes.
        var last = offset
        for (size, stride) in zip(shape, strides) where size > 0 {
            let (step, o1) = (size - 1).multipliedReportingOverflow(by: stride)
            let (sum, o2) = last.addingReportingOverflow(step)
            guard !o1, !o2 else { throw EmberError(.invalidModel, "\(what) has strides that overflow") }
            last = sum
        }
        guard count == 0 || last < available else {
            throw EmberError(
                .invalidModel,
                "\(what) of \(dtype)\(shape) reads element \(last) but '\(archive.root)\(path)' holds \(available): the archive is damaged")
        }
        let bytes = try archive.read(path)
        let contiguous = Tensor.strides(of: shape)
        if offset == 0, zip(shape, zip(strides, contiguous)).allSatisfy({ $0.0 <= 1 || $0.1.0 == $0.1.1 }) {
            return try Tensor(dtype, shape: shape, bytes: bytes.prefix(count * dtype.byteSize))
        }
        let storage = try Tensor(dtype, shape: [available], bytes: bytes.prefix(available * dtype.byteSize))
        var indices = [Int](repeating: offset, count: count)
        var position = [Int](repeating: 0, count: shape.count)
        for i in 0..<count {
            var index = offset
            for (p, s) in zip(position, strides) { index += p * s }
            indices[i] = index
            var axis = shape.count - 1
            while axis >= 0 {
                position[axis] += 1
                if position[axis] < shape[axis] { break }
                position[axis] = 0
                axis -= 1
            }
        }
        return storage.gathering(indices, shape: shape)
    }
}
